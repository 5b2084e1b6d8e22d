package binding

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func sampleToken() Token {
	return Token{
		Addrs:       []netip.AddrPort{netip.MustParseAddrPort("198.18.0.1:51830"), netip.MustParseAddrPort("[2001:db8::1]:51830")},
		Fingerprint: key(7),
		Secret:      [SecretSize]byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6},
	}
}

func TestTokenRoundTrip(t *testing.T) {
	tok := sampleToken()
	s, err := EncodeToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, TokenPrefix) || strings.ToLower(s) != s {
		t.Fatalf("token %q", s)
	}
	got, err := ParseToken(s)
	if err != nil || !reflect.DeepEqual(got, tok) {
		t.Fatalf("ParseToken = %+v, %v", got, err)
	}
	// Upper case, grouping dashes and line breaks are tolerated.
	var grouped strings.Builder
	body := strings.ToUpper(s[len(TokenPrefix):])
	for i := 0; i < len(body); i += 5 {
		grouped.WriteString(body[i:min(i+5, len(body))])
		grouped.WriteString("-\n ")
	}
	got, err = ParseToken("  HIP1-" + grouped.String())
	if err != nil || !reflect.DeepEqual(got, tok) {
		t.Fatalf("grouped token: %+v, %v", got, err)
	}
	if str := tok.String(); strings.Contains(str, fmt.Sprint(tok.Secret)) || strings.Contains(str, fmt.Sprintf("%x", tok.Secret)) || !strings.Contains(str, "198.18.0.1:51830") {
		t.Fatalf("String = %q", str)
	}
	if a, b := NewSecret(), NewSecret(); a == b || a == ([SecretSize]byte{}) {
		t.Fatal("NewSecret repeats or is zero")
	}
}

// TestTokenDetectsTypos changes every character of a token to every other
// base32 character; none may parse.
func TestTokenDetectsTypos(t *testing.T) {
	s, _ := EncodeToken(sampleToken())
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for i := len(TokenPrefix); i < len(s); i++ {
		for _, r := range alphabet {
			if byte(r) == s[i] {
				continue
			}
			typo := s[:i] + string(r) + s[i+1:]
			if tok, err := ParseToken(typo); err == nil {
				// The last character holds padding bits only partially;
				// a change there that decodes to the same bytes is benign.
				if reflect.DeepEqual(tok, sampleToken()) {
					continue
				}
				t.Fatalf("typo at %d (%q) parsed as %+v", i, typo, tok)
			}
		}
	}
	// Dropped and doubled characters.
	if _, err := ParseToken(s[:len(s)-1]); err == nil {
		t.Fatal("truncated token parsed")
	}
	if _, err := ParseToken(s[:20] + s[19:]); err == nil {
		t.Fatal("token with a doubled character parsed")
	}
}

func TestTokenErrors(t *testing.T) {
	good, _ := EncodeToken(sampleToken())
	cases := []struct {
		in   string
		want error
	}{
		{"", ErrTokenFormat},
		{"hip2-" + good[5:], ErrTokenFormat},
		{"hip1-!!!!", ErrTokenFormat},
		{"hip1-aaaa", ErrTokenFormat},
		{good[:len(good)-3] + "aaa", ErrTokenChecksum},
	}
	for _, c := range cases {
		if _, err := ParseToken(c.in); !errors.Is(err, c.want) {
			t.Errorf("ParseToken(%q) = %v, want %v", c.in, err, c.want)
		}
	}
	bad := []Token{
		{},
		{Addrs: []netip.AddrPort{{}}},
		{Addrs: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:0")}},
		{Addrs: make([]netip.AddrPort, MaxAddrs+1)},
	}
	for _, tok := range bad {
		if _, err := EncodeToken(tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("EncodeToken(%+v) = %v", tok, err)
		}
	}
}
