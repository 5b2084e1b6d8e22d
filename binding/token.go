package binding

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"strings"
)

// Enrolment token errors.
var (
	// ErrTokenFormat: the text is not an enrolment token of a known
	// version (wrong prefix, bad characters, bad length, bad fields).
	ErrTokenFormat = errors.New("binding: malformed enrolment token")
	// ErrTokenChecksum: the token's checksum does not match: a typo or a
	// truncated paste.
	ErrTokenChecksum = errors.New("binding: enrolment token checksum mismatch (mistyped?)")
)

// TokenPrefix starts every printable enrolment token; the digit is the
// token format version.
const TokenPrefix = "hip1-"

const tokenVersion = 1

var (
	tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	crcTable      = crc32.MakeTable(crc32.Castagnoli)
)

// Token is what a user pastes into `mnode enroll TOKEN`: where the home
// agent is, how to recognise it, and the one-time secret that proves the
// device was invited.
//
// Printable form: TokenPrefix, then unpadded lowercase base32 (RFC 4648
// alphabet, so case does not matter when typing) of
//
//	version       u8        1
//	Fingerprint   32 bytes  SHA-256 of the home agent's certificate
//	Secret        16 bytes  one-time secret
//	Addrs         list<addrport> 1–8, the home agent's control addresses
//	checksum      u32       CRC-32C of all bytes before it
//
// with the field encodings of the package doc. ParseToken ignores
// whitespace and '-' after the prefix, so a token may be grouped for
// reading, and accepts upper case.
type Token struct {
	// Addrs are the home agent's control address:ports, best first.
	Addrs []netip.AddrPort
	// Fingerprint pins the home agent's certificate.
	Fingerprint [32]byte
	// Secret is the one-time secret sent in Enroll.
	Secret [SecretSize]byte
}

// EncodeToken returns the printable form of t.
func EncodeToken(t Token) (string, error) {
	if len(t.Addrs) == 0 {
		return "", fmt.Errorf("binding: encoding enrolment token: %w: no home agent address", ErrInvalid)
	}
	e := encoder{b: make([]byte, 0, 64)}
	e.u8(tokenVersion)
	e.raw(t.Fingerprint[:])
	e.raw(t.Secret[:])
	e.count("addrs", len(t.Addrs), MaxAddrs)
	for _, a := range t.Addrs {
		if !a.IsValid() || a.Port() == 0 {
			e.fail("address %v: need address and port", a)
		}
		e.addrPort("addr", a)
	}
	if e.err != nil {
		return "", fmt.Errorf("binding: encoding enrolment token: %w", e.err)
	}
	e.u32(crc32.Checksum(e.b, crcTable))
	return TokenPrefix + tokenEncoding.EncodeToString(e.b), nil
}

// ParseToken parses a printable enrolment token. A mistyped token fails
// with ErrTokenChecksum (or ErrTokenFormat when the damage reaches the
// structure).
func ParseToken(s string) (Token, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, s)
	if len(s) < len(TokenPrefix) || !strings.EqualFold(s[:len(TokenPrefix)], TokenPrefix) {
		return Token{}, fmt.Errorf("binding: parsing enrolment token: %w: does not start with %q", ErrTokenFormat, TokenPrefix)
	}
	body := strings.ToLower(strings.ReplaceAll(s[len(TokenPrefix):], "-", ""))
	raw, err := tokenEncoding.DecodeString(body)
	if err != nil {
		return Token{}, fmt.Errorf("binding: parsing enrolment token: %w: %v", ErrTokenFormat, err)
	}
	if len(raw) < 1+32+SecretSize+1+4 {
		return Token{}, fmt.Errorf("binding: parsing enrolment token: %w: %d bytes, too short", ErrTokenFormat, len(raw))
	}
	payload, sum := raw[:len(raw)-4], binary.BigEndian.Uint32(raw[len(raw)-4:])
	if crc32.Checksum(payload, crcTable) != sum {
		return Token{}, fmt.Errorf("binding: parsing enrolment token: %w", ErrTokenChecksum)
	}
	d := decoder{b: payload}
	if v := d.u8("version"); v != tokenVersion {
		return Token{}, fmt.Errorf("binding: parsing enrolment token: %w: version %d", ErrTokenFormat, v)
	}
	var t Token
	d.key("fingerprint", &t.Fingerprint)
	copy(t.Secret[:], d.take(SecretSize, "secret"))
	n := d.count("addrs", MaxAddrs)
	if d.err == nil && n == 0 {
		d.fail("no home agent address")
	}
	for i := 0; i < n && d.err == nil; i++ {
		a := d.requiredAddrPort("addr")
		if d.err == nil && a.Port() == 0 {
			d.fail("address %v: port 0", a)
		}
		t.Addrs = append(t.Addrs, a)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return Token{}, fmt.Errorf("binding: parsing enrolment token: %w: %w", ErrTokenFormat, d.err)
	}
	return t, nil
}

// String returns a description of t for logs, without the secret.
func (t Token) String() string {
	return fmt.Sprintf("token{ha %v, %s}", t.Addrs, FormatFingerprint(t.Fingerprint))
}

// NewSecret returns a fresh random one-time secret for a Token.
func NewSecret() [SecretSize]byte {
	var s [SecretSize]byte
	rand.Read(s[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return s
}
