package tunnel

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// KeyLen is the length in bytes of a WireGuard (Curve25519) key.
const KeyLen = 32

// Key is a WireGuard private or public key. The zero Key is "no key".
type Key [KeyLen]byte

// GeneratePrivateKey returns a fresh, clamped Curve25519 private key.
func GeneratePrivateKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("tunnel: generating private key: %w", err)
	}
	k.clamp()
	return k, nil
}

// clamp applies the Curve25519 scalar clamping that WireGuard expects.
func (k *Key) clamp() {
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
}

// PublicKey derives the public key of private key k.
func (k Key) PublicKey() Key {
	priv := k
	priv.clamp()
	b, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		// Only a low-order point input fails, and the base point is not one.
		panic("tunnel: deriving public key: " + err.Error())
	}
	var pub Key
	copy(pub[:], b)
	return pub
}

// ParseKey parses a key in the standard base64 form used by wg(8) and
// wg-quick configuration files.
func ParseKey(s string) (Key, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return Key{}, fmt.Errorf("tunnel: parsing key: %w", ErrInvalidKey)
	}
	if len(b) != KeyLen {
		return Key{}, fmt.Errorf("tunnel: parsing key: %d bytes, want %d: %w", len(b), KeyLen, ErrInvalidKey)
	}
	var k Key
	copy(k[:], b)
	return k, nil
}

// String returns the key in standard base64, as wg(8) prints it.
func (k Key) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// hex returns the key in the lowercase hex form of the UAPI protocol.
func (k Key) hex() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k is the zero key.
func (k Key) IsZero() bool { return k == Key{} }

// MarshalText implements encoding.TextMarshaler (base64).
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (base64).
func (k *Key) UnmarshalText(b []byte) error {
	p, err := ParseKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}
