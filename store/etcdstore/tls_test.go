package etcdstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/homeip/homeip/store/storetest"
)

// writeCert issues a certificate signed by parent (self-signed when
// parent is nil) and writes it and its key as PEM files named name.pem
// and name-key.pem in dir.
func writeCert(t *testing.T, dir, name string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for file, block := range map[string]*pem.Block{
		name + ".pem":     {Type: "CERTIFICATE", Bytes: der},
		name + "-key.pem": {Type: "EC PRIVATE KEY", Bytes: kder},
	} {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestTLSClientCertificates runs etcd requiring client certificates: a
// store with one signed by the cluster's CA works, one without is
// refused.
func TestTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	serial := int64(0)
	tmpl := func(cn string, usage x509.ExtKeyUsage) *x509.Certificate {
		serial++
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	}
	caT := tmpl("homeip test CA", x509.ExtKeyUsageAny)
	caT.IsCA, caT.BasicConstraintsValid, caT.KeyUsage = true, true, x509.KeyUsageCertSign
	ca, caKey := writeCert(t, dir, "ca", caT, nil, nil)
	srvT := tmpl("etcd", x509.ExtKeyUsageServerAuth)
	srvT.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	writeCert(t, dir, "server", srvT, ca, caKey)
	writeCert(t, dir, "client", tmpl("ha-1", x509.ExtKeyUsageClientAuth), ca, caKey)

	ep, _ := startEtcdServer(t, func(cfg *embed.Config) {
		cfg.ClientTLSInfo = transport.TLSInfo{
			CertFile:       filepath.Join(dir, "server.pem"),
			KeyFile:        filepath.Join(dir, "server-key.pem"),
			TrustedCAFile:  filepath.Join(dir, "ca.pem"),
			ClientCertAuth: true,
		}
	})
	withCert, err := LoadTLS(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(bg, Config{Endpoints: []string{ep}, Prefix: "/tls/", TLS: withCert})
	if err != nil {
		t.Fatalf("Open with a client certificate: %v", err)
	}
	defer s.Close()
	if err := s.CreateDevice(bg, storetest.NewDevice("a")); err != nil {
		t.Fatal(err)
	}

	noCert, err := LoadTLS(filepath.Join(dir, "ca.pem"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 3*time.Second)
	defer cancel()
	if s2, err := Open(ctx, Config{Endpoints: []string{ep}, Prefix: "/tls/", TLS: noCert}); err == nil {
		s2.Close()
		t.Fatal("Open without a client certificate succeeded")
	}

	if _, err := LoadTLS("", filepath.Join(dir, "client.pem"), ""); err == nil {
		t.Error("LoadTLS with a certificate and no key succeeded")
	}
	if _, err := LoadTLS(filepath.Join(dir, "client-key.pem"), "", ""); err == nil {
		t.Error("LoadTLS with a key as CA file succeeded")
	}
}
