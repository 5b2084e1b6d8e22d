package binding

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func TestSelfSignedCertIsStable(t *testing.T) {
	a, err := SelfSignedCert(testKey(1), "ha")
	if err != nil {
		t.Fatal(err)
	}
	b, err := SelfSignedCert(testKey(1), "ha")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Certificate[0], b.Certificate[0]) {
		t.Fatal("same key and name gave different certificates")
	}
	other, _ := SelfSignedCert(testKey(2), "ha")
	if Fingerprint(a.Certificate[0]) == Fingerprint(other.Certificate[0]) {
		t.Fatal("different keys, same fingerprint")
	}
	if a.Leaf.Subject.CommonName != "ha" {
		t.Fatalf("CN %q", a.Leaf.Subject.CommonName)
	}
	if _, err := SelfSignedCert(ed25519.PrivateKey{1, 2}, "x"); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestFingerprintFormat(t *testing.T) {
	cert, _ := SelfSignedCert(testKey(1), "ha")
	s := Fingerprint(cert.Certificate[0])
	if len(s) != len("sha256:")+43 {
		t.Fatalf("fingerprint %q", s)
	}
	fp, err := ParseFingerprint(s)
	if err != nil || fp != FingerprintOf(cert.Certificate[0]) {
		t.Fatalf("ParseFingerprint: %v", err)
	}
	for _, bad := range []string{"", "sha256:", "md5:" + s[7:], s[:len(s)-1], s + "A", "sha256:" + string(bytes.Repeat([]byte{'!'}, 43))} {
		if _, err := ParseFingerprint(bad); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted", bad)
		}
	}
}

// handshake runs a TLS 1.3 handshake over loopback TCP (buffered, unlike
// net.Pipe, so a side that aborts can still send its alert).
func handshake(t *testing.T, client, server *tls.Config) (tls.ConnectionState, error, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		state tls.ConnectionState
		err   error
	}
	res := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		defer c.Close()
		sc := tls.Server(c, server)
		err = sc.HandshakeContext(ctx)
		if err == nil {
			// TLS 1.3 clients verify after the server's flight: read
			// until the client closes or alerts, to see a client refusal.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = sc.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		res <- result{sc.ConnectionState(), err}
	}()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc := tls.Client(c, client)
	cerr := cc.HandshakeContext(ctx)
	c.Close()
	r := <-res
	return r.state, cerr, r.err
}

func TestPinnedMutualTLS(t *testing.T) {
	haCert, _ := SelfSignedCert(testKey(1), "ha")
	devKey := testKey(3)
	devCert, _ := SelfSignedCert(devKey, "device")
	pin := FingerprintOf(haCert.Certificate[0])

	state, cerr, serr := handshake(t, ClientTLSConfig(devCert, pin, ""), ServerTLSConfig(haCert))
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	if state.Version != tls.VersionTLS13 || state.NegotiatedProtocol != ALPN {
		t.Fatalf("version %x, ALPN %q", state.Version, state.NegotiatedProtocol)
	}
	pub, err := PeerPublicKey(state)
	if err != nil || !pub.Equal(devKey.Public()) {
		t.Fatalf("PeerPublicKey = %v, %v", pub, err)
	}

	// Wrong pin: the client refuses.
	other, _ := SelfSignedCert(testKey(2), "impostor")
	_, cerr, _ = handshake(t, ClientTLSConfig(devCert, pin, ""), ServerTLSConfig(other))
	if !errors.Is(cerr, ErrFingerprintMismatch) {
		t.Fatalf("impostor handshake: %v", cerr)
	}

	// No client certificate: the server refuses.
	noCert := ClientTLSConfig(tls.Certificate{}, pin, "")
	noCert.Certificates = nil
	_, _, serr = handshake(t, noCert, ServerTLSConfig(haCert))
	if serr == nil {
		t.Fatal("server accepted a client without certificate")
	}

	if _, err := PeerPublicKey(tls.ConnectionState{}); !errors.Is(err, ErrNoPeerKey) {
		t.Fatalf("PeerPublicKey without certificate: %v", err)
	}
}

func TestPinVerifierEmpty(t *testing.T) {
	if err := PinVerifier([32]byte{})(nil, nil); !errors.Is(err, ErrNoPeerKey) {
		t.Fatalf("err = %v", err)
	}
}
