package tunnel

import (
	"encoding/hex"
	"errors"
	"testing"
)

func TestPublicKeyRFC7748(t *testing.T) {
	// RFC 7748 §6.1, Alice.
	priv, _ := hex.DecodeString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	var k Key
	copy(k[:], priv)
	if got, want := hex.EncodeToString(k.PublicKey().bytes()), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"; got != want {
		t.Fatalf("public key %s, want %s", got, want)
	}
}

func (k Key) bytes() []byte { return k[:] }

func TestKeyRoundTrip(t *testing.T) {
	k, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if k.IsZero() || k[0]&7 != 0 || k[31]&0x80 != 0 || k[31]&0x40 == 0 {
		t.Fatalf("private key not clamped: %x", k)
	}
	p, err := ParseKey(k.String())
	if err != nil || p != k {
		t.Fatalf("ParseKey(String()) = %v, %v", p, err)
	}
	var u Key
	txt, _ := k.PublicKey().MarshalText()
	if err := u.UnmarshalText(txt); err != nil || u != k.PublicKey() {
		t.Fatalf("text round trip: %v %v", u, err)
	}
}

func TestParseKeyRejects(t *testing.T) {
	for _, s := range []string{"", "not base64!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if _, err := ParseKey(s); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParseKey(%q) = %v, want ErrInvalidKey", s, err)
		}
	}
	var k Key
	if err := k.UnmarshalText([]byte("xx")); err == nil || !k.IsZero() {
		t.Fatalf("UnmarshalText of junk: %v, key %v", err, k)
	}
}
