package client

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/homeip/homeip/binding"
)

// Files of a state directory. The directory is mode 0700 and every file in
// it 0600: it holds the device's private keys.
const (
	identityFile = "identity.pem"  // ed25519 key of the TLS client certificate (PKCS #8 PEM)
	wgKeyFile    = "wireguard.key" // WireGuard private key, base64 as wg(8) writes it
	stateFile    = "state.json"    // Persisted
	lockFile     = "lock"          // flock held by a running node
	socketFile   = "mnode.sock"    // default control socket
)

// stateVersion is the version of state.json this code writes.
const stateVersion = 1

// HomeAgent is a home agent the device is enrolled with: where to reach it
// and the SHA-256 fingerprint of its certificate, which the device pins.
type HomeAgent struct {
	Addrs       []netip.AddrPort `json:"addrs"`
	Fingerprint Fingerprint      `json:"fingerprint"`
}

// Fingerprint is the SHA-256 of a home agent's certificate (DER). It is
// written in binding's printable form ("sha256:" and base64url).
type Fingerprint [32]byte

// MarshalText implements encoding.TextMarshaler.
func (f Fingerprint) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Fingerprint) UnmarshalText(b []byte) error {
	v, err := binding.ParseFingerprint(string(b))
	if err != nil {
		return fmt.Errorf("client: %w (%w)", err, ErrInvalid)
	}
	*f = v
	return nil
}

// String returns the printable form.
func (f Fingerprint) String() string { return binding.FormatFingerprint(f) }

// NetConfig is the configuration a home agent handed out in its last
// RegisterAck, kept so that a restarted node brings its tunnel up with the
// same addresses before the home agent answers.
type NetConfig struct {
	VIP4         netip.Addr     `json:"vip4,omitzero"`
	VIP6         netip.Addr     `json:"vip6,omitzero"`
	HATunnel4    netip.Addr     `json:"ha_tunnel4,omitzero"`
	HATunnel6    netip.Addr     `json:"ha_tunnel6,omitzero"`
	HAPublicKey  WGKey          `json:"ha_public_key"`
	DataEndpoint netip.AddrPort `json:"data_endpoint,omitzero"`
	DNS          []netip.Addr   `json:"dns,omitempty"`
	SearchDomain string         `json:"search_domain,omitempty"`
	Routes       []netip.Prefix `json:"routes,omitempty"`
	Lifetime     time.Duration  `json:"lifetime"`
	Keepalive    time.Duration  `json:"keepalive"`
	MTU          int            `json:"mtu,omitempty"`
}

// Persisted is the content of state.json.
type Persisted struct {
	Version    int       `json:"version"`
	DeviceID   string    `json:"device_id"`
	DeviceName string    `json:"device_name,omitempty"`
	HomeAgent  HomeAgent `json:"home_agent"`
	EnrolledAt time.Time `json:"enrolled_at"`
	// Config is the last configuration received; nil before the first
	// registration.
	Config *NetConfig `json:"config,omitempty"`
	// Sequence is the last binding update sequence number sent.
	Sequence uint16 `json:"sequence"`
}

// WGKey is a WireGuard (Curve25519) key, written in base64 as wg(8) does.
type WGKey [32]byte

// MarshalText implements encoding.TextMarshaler.
func (k WGKey) MarshalText() ([]byte, error) {
	return []byte(base64.StdEncoding.EncodeToString(k[:])), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *WGKey) UnmarshalText(b []byte) error {
	v, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil || len(v) != 32 {
		return fmt.Errorf("client: WireGuard key is not 32 bytes of base64: %w", ErrInvalid)
	}
	copy(k[:], v)
	return nil
}

// PublicKey returns the Curve25519 public key of a private key.
func (k WGKey) PublicKey() (WGKey, error) {
	priv, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		return WGKey{}, fmt.Errorf("client: deriving WireGuard public key: %w", err)
	}
	var pub WGKey
	copy(pub[:], priv.PublicKey().Bytes())
	return pub, nil
}

// newWGKey returns a new clamped Curve25519 private key.
func newWGKey() (WGKey, error) {
	var k WGKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("client: generating WireGuard key: %w", err)
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k, nil
}

// StateDir is a mobile node's state directory. Methods are safe for
// concurrent use only in the sense that files are replaced atomically;
// one process at a time owns a directory (Lock).
type StateDir struct {
	path string
}

// OpenStateDir opens (creating it with mode 0700 if needed) the state
// directory at path. An existing directory that others can read or write
// is refused: it holds private keys.
func OpenStateDir(path string) (*StateDir, error) {
	if path == "" {
		return nil, fmt.Errorf("client: state directory not given: %w", ErrInvalid)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("client: state directory %s: %w", path, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("client: creating state directory: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("client: state directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("client: state directory %s is not a directory: %w", abs, ErrInvalid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("client: state directory %s has mode %v; it holds private keys and must not be accessible to others (chmod 700): %w", abs, fi.Mode().Perm(), ErrInvalid)
	}
	return &StateDir{path: abs}, nil
}

// Path returns the directory's absolute path.
func (d *StateDir) Path() string { return d.path }

// SocketPath returns the default control socket path inside the directory.
func (d *StateDir) SocketPath() string { return filepath.Join(d.path, socketFile) }

// Lock takes an exclusive lock on the directory so that two nodes never
// share it. The returned function releases it.
func (d *StateDir) Lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(d.path, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("client: locking state directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrStateBusy, d.path)
		}
		return nil, fmt.Errorf("client: locking state directory: %w", err)
	}
	return func() { f.Close() }, nil
}

// IdentityKey returns the device's ed25519 identity key, creating it when
// create is true and there is none.
func (d *StateDir) IdentityKey(create bool) (ed25519.PrivateKey, error) {
	p := filepath.Join(d.path, identityFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) && create {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("client: generating identity key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("client: encoding identity key: %w", err)
		}
		if err := writeFileAtomic(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, err
		}
		return priv, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("client: reading identity key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("client: %s is not a PEM private key: %w", p, ErrInvalid)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("client: parsing identity key %s: %w", p, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("client: identity key %s is %T, not ed25519: %w", p, k, ErrInvalid)
	}
	return priv, nil
}

// WireGuardKey returns the device's WireGuard private key, creating it
// when create is true and there is none.
func (d *StateDir) WireGuardKey(create bool) (WGKey, error) {
	p := filepath.Join(d.path, wgKeyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) && create {
		k, err := newWGKey()
		if err != nil {
			return k, err
		}
		txt, _ := k.MarshalText()
		return k, writeFileAtomic(p, append(txt, '\n'))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return WGKey{}, ErrNotEnrolled
	}
	if err != nil {
		return WGKey{}, fmt.Errorf("client: reading WireGuard key: %w", err)
	}
	var k WGKey
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if err := k.UnmarshalText(b); err != nil {
		return k, fmt.Errorf("client: %s: %w", p, err)
	}
	return k, nil
}

// Load reads state.json. It returns ErrNotEnrolled when there is none.
func (d *StateDir) Load() (Persisted, error) {
	var st Persisted
	b, err := os.ReadFile(filepath.Join(d.path, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, ErrNotEnrolled
	}
	if err != nil {
		return st, fmt.Errorf("client: reading state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("client: parsing %s: %w (%w)", filepath.Join(d.path, stateFile), err, ErrInvalid)
	}
	if st.Version != stateVersion {
		return st, fmt.Errorf("client: %s has version %d, this mnode reads %d: %w", filepath.Join(d.path, stateFile), st.Version, stateVersion, ErrInvalid)
	}
	if len(st.HomeAgent.Addrs) == 0 {
		return st, fmt.Errorf("client: %s names no home agent address: %w", filepath.Join(d.path, stateFile), ErrInvalid)
	}
	return st, nil
}

// Save replaces state.json atomically.
func (d *StateDir) Save(st Persisted) error {
	st.Version = stateVersion
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("client: encoding state: %w", err)
	}
	return writeFileAtomic(filepath.Join(d.path, stateFile), append(b, '\n'))
}

// writeFileAtomic writes b to a temporary file with mode 0600 in the same
// directory, syncs it and renames it over p.
func writeFileAtomic(p string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return fmt.Errorf("client: writing %s: %w", p, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("client: writing %s: %w", p, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("client: writing %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("client: writing %s: %w", p, err)
	}
	return nil
}
