package homeagent

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/config"
	"github.com/homeip/homeip/tunnel"
)

// Files of the home agent's identity in the data directory, mode 0600.
const (
	IdentityKeyFile  = "identity.key" // ed25519, PKCS#8 PEM
	WireGuardKeyFile = "wireguard.key"
)

// Identity is the home agent's long-lived identity: the ed25519 key its TLS
// certificate is built from (the fingerprint devices pin), and its WireGuard
// key.
type Identity struct {
	Key         ed25519.PrivateKey
	Cert        tls.Certificate
	Fingerprint [32]byte
	WGKey       tunnel.Key // private
}

// FingerprintString is the fingerprint as `ha serve` prints it.
func (id *Identity) FingerprintString() string { return binding.FormatFingerprint(id.Fingerprint) }

// LoadIdentity reads the identity from dir, creating it (and dir, 0700) at
// first start. The certificate is rebuilt from the key at every start and
// is the same every time (binding.SelfSignedCert is deterministic), so the
// fingerprint in issued tokens stays valid.
func LoadIdentity(dir string) (*Identity, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("homeagent: creating data directory: %w", err)
	}
	key, err := loadOrCreateEd25519(filepath.Join(dir, IdentityKeyFile))
	if err != nil {
		return nil, err
	}
	wg, err := loadOrCreateWG(filepath.Join(dir, WireGuardKeyFile))
	if err != nil {
		return nil, err
	}
	cert, err := binding.SelfSignedCert(key, "homeip home agent")
	if err != nil {
		return nil, fmt.Errorf("homeagent: building certificate: %w", err)
	}
	return &Identity{Key: key, Cert: cert, Fingerprint: binding.FingerprintOf(cert.Certificate[0]), WGKey: wg}, nil
}

func loadOrCreateEd25519(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("homeagent: generating identity key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("homeagent: encoding identity key: %w", err)
		}
		if err := writeSecret(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, err
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("homeagent: reading identity key: %w", err)
	}
	if err := checkMode(path); err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("homeagent: %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("homeagent: %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("homeagent: %s: not an ed25519 key", path)
	}
	return priv, nil
}

func loadOrCreateWG(path string) (tunnel.Key, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := tunnel.GeneratePrivateKey()
		if err != nil {
			return tunnel.Key{}, fmt.Errorf("homeagent: generating WireGuard key: %w", err)
		}
		if err := writeSecret(path, []byte(k.String()+"\n")); err != nil {
			return tunnel.Key{}, err
		}
		return k, nil
	}
	if err != nil {
		return tunnel.Key{}, fmt.Errorf("homeagent: reading WireGuard key: %w", err)
	}
	if err := checkMode(path); err != nil {
		return tunnel.Key{}, err
	}
	var k tunnel.Key
	if err := k.UnmarshalText(trimSpace(data)); err != nil {
		return tunnel.Key{}, fmt.Errorf("homeagent: %s: %w", path, err)
	}
	return k, nil
}

// checkMode refuses a key file others can read: a leaked identity key lets
// anyone impersonate the home agent.
func checkMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("homeagent: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("homeagent: %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	return nil
}

// writeSecret writes data to path with mode 0600, atomically and durably
// (config.WriteFileAtomic).
func writeSecret(path string, data []byte) error {
	if err := config.WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("homeagent: %w", err)
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
