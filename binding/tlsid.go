package binding

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Identity errors.
var (
	// ErrFingerprintMismatch: the peer's certificate is not the pinned one.
	ErrFingerprintMismatch = errors.New("binding: peer certificate fingerprint mismatch")
	// ErrNoPeerKey: the peer presented no certificate, or one without an
	// ed25519 key.
	ErrNoPeerKey = errors.New("binding: peer has no ed25519 certificate")
)

// fingerprintPrefix starts every printable fingerprint.
const fingerprintPrefix = "sha256:"

// Certificate validity: fixed, so that the certificate (and its
// fingerprint) is a pure function of the key and the name. Peers pin
// fingerprints rather than checking dates.
var (
	certNotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) // RFC 5280 "no expiry"
)

// SelfSignedCert returns a self-signed TLS certificate for the ed25519
// key. The result depends only on priv and commonName (ed25519 signatures
// are deterministic, dates and serial are fixed), so a home agent that
// rebuilds its certificate from its stored key at every start keeps the
// fingerprint its enrolment tokens carry.
func SelfSignedCert(priv ed25519.PrivateKey, commonName string) (tls.Certificate, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return tls.Certificate{}, fmt.Errorf("binding: self-signed certificate: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	serial := new(big.Int).SetBytes(sum[:16]) // positive, stable per key
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             certNotBefore,
		NotAfter:              certNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("binding: self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("binding: self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// FingerprintOf returns the SHA-256 of a DER certificate.
func FingerprintOf(certDER []byte) [32]byte { return sha256.Sum256(certDER) }

// Fingerprint returns the printable SHA-256 fingerprint of a DER
// certificate: "sha256:" and 43 characters of unpadded base64url.
func Fingerprint(certDER []byte) string {
	return FormatFingerprint(FingerprintOf(certDER))
}

// FormatFingerprint prints a raw fingerprint the way Fingerprint does.
func FormatFingerprint(fp [32]byte) string {
	return fingerprintPrefix + base64.RawURLEncoding.EncodeToString(fp[:])
}

// ParseFingerprint parses the output of Fingerprint.
func ParseFingerprint(s string) ([32]byte, error) {
	var fp [32]byte
	rest, ok := strings.CutPrefix(s, fingerprintPrefix)
	if !ok {
		return fp, fmt.Errorf("binding: parsing fingerprint %q: missing %q prefix", s, fingerprintPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != len(fp) {
		return fp, fmt.Errorf("binding: parsing fingerprint %q: want 43 base64url characters", s)
	}
	copy(fp[:], b)
	return fp, nil
}

// PinVerifier returns a tls.Config.VerifyPeerCertificate function that
// accepts only a peer whose leaf certificate has fingerprint pin. Use it
// with InsecureSkipVerify (there is no CA; the pin is the trust).
func PinVerifier(pin [32]byte) func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) == 0 {
			return fmt.Errorf("binding: verifying peer: %w", ErrNoPeerKey)
		}
		got := sha256.Sum256(rawCerts[0])
		if subtle.ConstantTimeCompare(got[:], pin[:]) != 1 {
			return fmt.Errorf("binding: verifying peer: %w: got %s, want %s", ErrFingerprintMismatch, FormatFingerprint(got), FormatFingerprint(pin))
		}
		return nil
	}
}

// ClientTLSConfig returns the mobile node's TLS configuration: TLS 1.3
// only, ALPN homeip/1, the device's certificate as client certificate,
// and the home agent pinned by fingerprint. serverName is sent as SNI and
// may be empty.
func ClientTLSConfig(cert tls.Certificate, pin [32]byte, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		NextProtos:            []string{ALPN},
		Certificates:          []tls.Certificate{cert},
		ServerName:            serverName,
		InsecureSkipVerify:    true, // trust is the pinned fingerprint, checked below
		VerifyPeerCertificate: PinVerifier(pin),
	}
}

// ServerTLSConfig returns the home agent's TLS configuration: TLS 1.3
// only, ALPN homeip/1, and a client certificate required. Any client
// certificate with an ed25519 key is accepted by TLS (the handshake proves
// possession of the key); the home agent then takes the key with
// PeerPublicKey and checks it against its registry.
func ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{ALPN},
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			if len(rawCerts) == 0 {
				return fmt.Errorf("binding: verifying client: %w", ErrNoPeerKey)
			}
			_, err := certKey(rawCerts[0])
			return err
		},
	}
}

// PeerPublicKey returns the ed25519 public key of the peer's leaf
// certificate in a completed handshake (the device's identity key, on the
// home agent side).
func PeerPublicKey(cs tls.ConnectionState) (ed25519.PublicKey, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, fmt.Errorf("binding: peer key: %w", ErrNoPeerKey)
	}
	k, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("binding: peer key: %w: key is %T", ErrNoPeerKey, cs.PeerCertificates[0].PublicKey)
	}
	return k, nil
}

func certKey(der []byte) (ed25519.PublicKey, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("binding: parsing peer certificate: %w", err)
	}
	k, ok := c.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("binding: peer certificate: %w: key is %T", ErrNoPeerKey, c.PublicKey)
	}
	return k, nil
}
