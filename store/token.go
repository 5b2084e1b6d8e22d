package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"time"
)

// tokenEncoding is unpadded lower-case-friendly base32: easy to read out,
// type and put in a QR code.
var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// HashToken returns the SHA-256 of a token secret, the form in which
// tokens are stored and looked up.
func HashToken(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// NewToken makes a fresh one-time token for a device, valid for ttl from
// now. It returns the secret to hand to the user (160 random bits, base32)
// and the Token record to store with AddToken. The secret is not kept
// anywhere.
func NewToken(deviceID string, now time.Time, ttl time.Duration) (string, Token, error) {
	if err := ValidateID(deviceID); err != nil {
		return "", Token{}, err
	}
	if ttl <= 0 {
		return "", Token{}, fmt.Errorf("%w: token lifetime %v must be positive", ErrInvalid, ttl)
	}
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Token{}, fmt.Errorf("store: making token: %w", err)
	}
	secret := tokenEncoding.EncodeToString(b[:])
	return secret, Token{Hash: HashToken(secret), DeviceID: deviceID, Created: now, Expires: now.Add(ttl)}, nil
}
