package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/homeip/homeip/store"
)

// LoadTLS builds a Config.TLS from PEM files: caFile holds the
// certificates of the authorities that sign the members' certificates
// (empty: the system's roots), certFile and keyFile the client certificate
// and key the cluster asks for (both or neither).
func LoadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("etcdstore: reading CA certificates: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcdstore: %s: %w: no PEM certificate", caFile, store.ErrInvalid)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("etcdstore: %w: a client certificate needs both its certificate and key files", store.ErrInvalid)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("etcdstore: loading client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
