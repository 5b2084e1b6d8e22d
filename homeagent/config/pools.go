package config

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
)

// DefaultPoolsFile is the file in the data directory that keeps the default
// pools chosen at first start.
const DefaultPoolsFile = "default-pools.toml"

// DefaultPools returns the pools a home agent without configured pools uses:
// the ones persisted in dataDir, or, at first start, a random IPv4 /16 in
// 10.64.0.0/11 and the first /64 of a random ULA /48, which it persists
// before returning (see the package doc for why). rnd is the randomness
// (nil: crypto/rand).
func DefaultPools(dataDir string, rnd io.Reader) (pool4, pool6 []netip.Prefix, err error) {
	path := filepath.Join(dataDir, DefaultPoolsFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		var c Config
		if err := Parse(&c, data); err != nil {
			var fe *FileError
			if errors.As(err, &fe) {
				fe.File = path
			}
			return nil, nil, err
		}
		if len(c.Pool4) == 0 || len(c.Pool6) == 0 {
			return nil, nil, fmt.Errorf("config: %s: %w: missing pool4 or pool6", path, ErrInvalid)
		}
		return c.Pool4, c.Pool6, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("config: reading default pools: %w", err)
	}
	p4, p6, err := RandomPools(rnd)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("config: creating data directory: %w", err)
	}
	doc := "# Chosen at first start; the leases depend on them. Do not edit.\n" +
		string(Marshal(Config{Pool4: []netip.Prefix{p4}, Pool6: []netip.Prefix{p6}}))
	if err := WriteFileAtomic(path, []byte(doc), 0o600); err != nil {
		return nil, nil, fmt.Errorf("config: writing default pools: %w", err)
	}
	return []netip.Prefix{p4}, []netip.Prefix{p6}, nil
}

// RandomPools draws a default IPv4 /16 in 10.64.0.0/11 and the first /64 of
// a random ULA /48 (RFC 4193) from rnd (nil: crypto/rand).
func RandomPools(rnd io.Reader) (pool4, pool6 netip.Prefix, err error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var b [6]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("config: drawing default pools: %w", err)
	}
	pool4 = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 64 + b[0]%32, 0, 0}), 16)
	var a16 [16]byte
	a16[0] = 0xfd
	copy(a16[1:6], b[1:6])
	pool6 = netip.PrefixFrom(netip.AddrFrom16(a16), 64)
	return pool4, pool6, nil
}
