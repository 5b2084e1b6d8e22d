package tunnelbench

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/homeip/homeip/tunnel"
	"github.com/quic-go/quic-go"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// childEnv carries a child's spec (JSON); its presence makes ChildMain run
// the child instead of returning.
const childEnv = "HOMEIP_TUNNELBENCH_CHILD"

// Data plane kinds a child can run.
const (
	modeStock  = "stock"
	modeHomeIP = "homeip"
)

// childSpec is what one child brings up: one WireGuard device with one
// peer, in the namespace it was started in.
type childSpec struct {
	Mode         string
	Iface        string
	PrivateKey   tunnel.Key
	ListenPort   uint16
	Address      netip.Prefix
	PeerKey      tunnel.Key
	PeerAllowed  netip.Prefix
	PeerEndpoint netip.AddrPort
	// MTU is the homeip interface MTU; 0 means tunnel.DefaultMTU.
	MTU int
	// PeerMTU, when not 0, is given to the homeip device with SetPeerMTU.
	PeerMTU int
	// LinkMTU, when not 0, is set on the homeip interface after it is
	// up, as an operator would by hand (below what Config.MTU accepts).
	LinkMTU int
}

// ChildMain runs a benchmark child and exits if this process was started
// as one (the environment says so); otherwise it returns at once. Call it
// first thing in main or TestMain of every binary that calls Run.
func ChildMain() {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return
	}
	if err := runChild(spec, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runChild brings the device up, writes "ready" to out, and keeps it up
// until in reaches EOF (the parent closed it).
func runChild(specJSON string, in io.Reader, out io.Writer) error {
	var s childSpec
	if err := json.Unmarshal([]byte(specJSON), &s); err != nil {
		return fmt.Errorf("tunnelbench child: spec: %w", err)
	}
	var stop func()
	var err error
	switch s.Mode {
	case modeStock:
		stop, err = startStock(s)
	case modeHomeIP:
		stop, err = startHomeIP(s)
	default:
		err = fmt.Errorf("tunnelbench child: unknown mode %q", s.Mode)
	}
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintln(out, "ready")
	_, _ = io.Copy(io.Discard, in)
	return nil
}

// startStock is stock wireguard-go as a library: its Linux TUN, its
// StdNetBind, configured over its in-process UAPI.
func startStock(s childSpec) (func(), error) {
	t, err := tun.CreateTUN(s.Iface, tunnel.DefaultMTU)
	if err != nil {
		return nil, fmt.Errorf("tunnelbench child: stock TUN: %w", err)
	}
	dev := device.NewDevice(t, conn.NewStdNetBind(), device.NewLogger(device.LogLevelError, "stock: "))
	cfg := fmt.Sprintf("private_key=%s\nlisten_port=%d\npublic_key=%s\nallowed_ip=%s\nendpoint=%s\n",
		hex.EncodeToString(s.PrivateKey[:]), s.ListenPort, hex.EncodeToString(s.PeerKey[:]), s.PeerAllowed, s.PeerEndpoint)
	if err := dev.IpcSet(cfg); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnelbench child: stock config: %w", err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnelbench child: stock up: %w", err)
	}
	if err := addrUp(s.Iface, s.Address); err != nil {
		dev.Close()
		return nil, err
	}
	return dev.Close, nil
}

// setLinkMTU sets the MTU of iface.
func setLinkMTU(iface string, mtu int) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("tunnelbench child: netlink: %w", err)
	}
	defer h.Close()
	l, err := h.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("tunnelbench child: %s: %w", iface, err)
	}
	if err := h.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("tunnelbench child: MTU of %s: %w", iface, err)
	}
	return nil
}

// addrUp puts addr on iface and brings it up (what tunnel.New does for
// the homeip device).
func addrUp(iface string, addr netip.Prefix) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("tunnelbench child: netlink: %w", err)
	}
	defer h.Close()
	l, err := h.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("tunnelbench child: %s: %w", iface, err)
	}
	a := addr.Addr()
	n := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(addr.Bits(), a.BitLen())}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: n}); err != nil {
		return fmt.Errorf("tunnelbench child: address: %w", err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("tunnelbench child: up: %w", err)
	}
	return nil
}

// startHomeIP is homeip's data plane as ha and mnode run it: tunnel.Device
// with a QUIC transport listening on the shared port.
func startHomeIP(s childSpec) (func(), error) {
	d, err := tunnel.New(tunnel.Config{
		InterfaceName: s.Iface,
		PrivateKey:    s.PrivateKey,
		ListenAddr:    netip.AddrPortFrom(netip.Addr{}, s.ListenPort),
		Addresses:     []netip.Prefix{s.Address},
		MTU:           s.MTU,
	})
	if err != nil {
		return nil, err
	}
	if err := d.SetPeer(tunnel.Peer{PublicKey: s.PeerKey, AllowedIPs: []netip.Prefix{s.PeerAllowed}, Endpoint: s.PeerEndpoint}); err != nil {
		d.Close()
		return nil, err
	}
	if s.LinkMTU != 0 {
		if err := setLinkMTU(s.Iface, s.LinkMTU); err != nil {
			d.Close()
			return nil, err
		}
	}
	if s.PeerMTU != 0 {
		if err := d.SetPeerMTU(s.PeerKey, s.PeerMTU); err != nil {
			d.Close()
			return nil, err
		}
	}
	tlsConf, err := selfSignedTLS()
	if err != nil {
		d.Close()
		return nil, err
	}
	tr := &quic.Transport{Conn: d.ControlConn()}
	ln, err := tr.Listen(tlsConf, &quic.Config{})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("tunnelbench child: QUIC listen: %w", err)
	}
	return func() {
		ln.Close()
		tr.Close()
		d.Close()
	}, nil
}

// selfSignedTLS is a throwaway server TLS config for the QUIC side.
func selfSignedTLS() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tunnelbench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{"homeip/1"}, MinVersion: tls.VersionTLS13}, nil
}

// child is a running child process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer
	waitc  chan error // receives cmd.Wait's result once
}

// startChild runs exe as a child in namespace ns and waits until its
// device is up.
func startChild(ctx context.Context, exe, ns string, s childSpec) (*child, error) {
	spec, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	rw := &readyWriter{ready: make(chan struct{})}
	cmd.Stdout = rw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("tunnelbench: starting %s child in %s: %w", s.Mode, ns, err)
	}
	c := &child{cmd: cmd, stdin: stdin, stderr: &stderr, waitc: make(chan error, 1)}
	go func() { c.waitc <- cmd.Wait() }()
	select {
	case <-rw.ready:
	case werr := <-c.waitc:
		c.waitc <- werr // for stop
		err = fmt.Errorf("exited: %v", werr)
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(30 * time.Second):
		err = errors.New("timed out")
	}
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("tunnelbench: %s child in %s not ready: %v: %s", s.Mode, ns, err, strings.TrimSpace(stderr.String()))
	}
	return c, nil
}

// stop asks the child to shut down (EOF on stdin) and kills it if it does
// not within 10 s.
func (c *child) stop() error {
	c.stdin.Close()
	select {
	case err := <-c.waitc:
		if err != nil {
			return fmt.Errorf("tunnelbench: child: %v: %s", err, strings.TrimSpace(c.stderr.String()))
		}
		return nil
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.waitc
		return errors.New("tunnelbench: child did not stop; killed")
	}
}

// readyWriter is a child's stdout: it closes ready at the first "ready"
// line.
type readyWriter struct {
	buf   bytes.Buffer
	ready chan struct{}
	seen  bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if !w.seen && strings.Contains(w.buf.String(), "ready\n") {
		w.seen = true
		close(w.ready)
	}
	return len(p), nil
}
