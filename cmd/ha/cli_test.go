package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent"
	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/homeagent/config"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/store/bboltstore"
	"github.com/homeip/homeip/tunnel/tunneltest"
)

// startDaemon runs a home agent with a fake data plane and returns its
// admin socket.
func startDaemon(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "ha.sock")
	fs := newFlagSet()
	apply := config.Flags(fs)
	if err := fs.Parse([]string{"--data-dir", dir, "--admin-socket", sock, "--pool4", "192.0.2.128/25",
		"--pool6", "2001:db8:100::/64", "--public-addr", "198.18.0.1", "--route", "192.0.2.0/25", "--dns-disabled"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig("", apply)
	if err != nil {
		t.Fatal(err)
	}
	id, err := homeagent.LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := bboltstore.Open(filepath.Join(dir, storeFile), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	dp := tunneltest.New()
	srv, err := homeagent.New(homeagent.Options{Config: cfg, Identity: id, Store: st, DataPlane: dp, ControlConn: pc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
		pc.Close()
		dp.Close()
	})
	c := adminapi.NewClient(sock)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := c.Pool(); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
	}
}

func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := admin(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestCLI(t *testing.T) {
	sock := startDaemon(t)
	out, errOut, code := cli(t, "device", "add", "laptop", "--admin-socket", sock)
	if code != 0 {
		t.Fatalf("device add: %d %s", code, errOut)
	}
	tok, err := binding.ParseToken(strings.TrimSpace(out))
	if err != nil || tok.Addrs[0] != netip.MustParseAddrPort("198.18.0.1:51830") {
		t.Fatalf("token %q: %v %v", out, tok, err)
	}
	out, _, code = cli(t, "device", "add", "--admin-socket", sock, "phone", "--json")
	var added adminapi.AddDeviceResult
	if code != 0 || json.Unmarshal([]byte(out), &added) != nil || !strings.HasPrefix(added.Token, binding.TokenPrefix) {
		t.Fatalf("device add --json: %d %q", code, out)
	}
	if _, errOut, code = cli(t, "device", "add", "laptop", "--admin-socket", sock); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("duplicate: %d %q", code, errOut)
	}
	out, _, code = cli(t, "device", "list", "--admin-socket", sock)
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "laptop") || !strings.Contains(out, "phone") {
		t.Fatalf("device list:\n%s", out)
	}
	out, _, code = cli(t, "device", "export", "phone", "--admin-socket", sock, "--qr=true")
	if code != 0 || !strings.Contains(out, "[Interface]") || !strings.Contains(out, "Endpoint = 198.18.0.1:51830") || !strings.Contains(out, "█") {
		t.Fatalf("export:\n%s", out)
	}
	out, _, code = cli(t, "device", "reserve", "laptop", "192.0.2.200", "--admin-socket", sock)
	if code != 0 || !strings.Contains(out, "192.0.2.200") {
		t.Fatalf("reserve:\n%s", out)
	}
	if _, errOut, code = cli(t, "device", "unreserve", "laptop", "not-an-address", "--admin-socket", sock); code == 0 || !strings.Contains(errOut, "not-an-address") {
		t.Fatalf("unreserve with a bad address: %d %q", code, errOut)
	}
	out, _, code = cli(t, "device", "unreserve", "laptop", "192.0.2.200", "--admin-socket", sock)
	if code != 0 || strings.Contains(out, "192.0.2.200") {
		t.Fatalf("unreserve:\n%s", out)
	}
	if _, _, code = cli(t, "device", "reserve", "laptop", "192.0.2.200", "--admin-socket", sock); code != 0 {
		t.Fatal("reserve again failed")
	}
	if _, _, code = cli(t, "device", "rename", "laptop", "notebook", "--admin-socket", sock); code != 0 {
		t.Fatal("rename failed")
	}
	out, _, code = cli(t, "device", "show", "notebook", "--admin-socket", sock)
	if code != 0 || !strings.Contains(out, "name:") || !strings.Contains(out, "notebook") {
		t.Fatalf("show:\n%s", out)
	}
	out, _, code = cli(t, "device", "revoke", "notebook", "--admin-socket", sock, "--json")
	var d adminapi.Device
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d.State != "revoked" {
		t.Fatalf("revoke:\n%s", out)
	}
	out, _, code = cli(t, "device", "delete", "phone", "--admin-socket", sock)
	if code != 0 || !strings.Contains(out, "phone deleted") {
		t.Fatalf("delete:\n%s", out)
	}
	if _, errOut, code = cli(t, "device", "show", "phone", "--admin-socket", sock); code != 1 || !strings.Contains(errOut, "phone") {
		t.Fatalf("show after delete: %d %q", code, errOut)
	}
	out, _, code = cli(t, "pool", "show", "--admin-socket", sock)
	if code != 0 || !strings.Contains(out, "192.0.2.128/25") {
		t.Fatalf("pool show:\n%s", out)
	}
	if out, _, code = cli(t, "binding", "list", "--admin-socket", sock); code != 0 || !strings.HasPrefix(out, "DEVICE") {
		t.Fatalf("binding list:\n%s", out)
	}
	if _, errOut, code = cli(t, "device", "show", "ghost", "--admin-socket", sock); code != 1 || !strings.Contains(errOut, "ghost") {
		t.Fatalf("unknown device: %d %q", code, errOut)
	}
	if _, _, code = cli(t, "device", "add", "--admin-socket", sock); code != 2 {
		t.Fatalf("missing argument: exit %d", code)
	}
	if _, errOut, code = cli(t, "device", "list", "--admin-socket", filepath.Join(t.TempDir(), "none.sock")); code != 1 || !strings.Contains(errOut, "running") {
		t.Fatalf("no daemon: %d %q", code, errOut)
	}
}

func TestServeConfigErrors(t *testing.T) {
	fs := newFlagSet()
	apply := config.Flags(fs)
	if err := fs.Parse([]string{"--pool4", "192.0.2.0/24", "--tunnel4", "10.0.0.1", "--data-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig("", apply); err == nil || !strings.Contains(err.Error(), "tunnel4") {
		t.Fatalf("err = %v", err)
	}
	// Zero configuration picks and persists default pools.
	dir := t.TempDir()
	fs = newFlagSet()
	apply = config.Flags(fs)
	fs.Parse([]string{"--data-dir", dir})
	cfg, err := loadConfig("", apply)
	if err != nil || len(cfg.Pool4) != 1 || len(cfg.Pool6) != 1 || !cfg.Tunnel4.IsValid() {
		t.Fatalf("zero config: %+v %v", cfg, err)
	}
	fs = newFlagSet()
	apply = config.Flags(fs)
	fs.Parse([]string{"--data-dir", dir})
	again, _ := loadConfig("", apply)
	if again.Pool4[0] != cfg.Pool4[0] || again.Pool6[0] != cfg.Pool6[0] {
		t.Fatal("default pools changed between starts")
	}
}

func TestCLITokens(t *testing.T) {
	sock := startDaemon(t)
	if _, errOut, code := cli(t, "device", "add", "cam", "--admin-socket", sock); code != 0 {
		t.Fatalf("device add: %d %s", code, errOut)
	}
	if _, errOut, code := cli(t, "device", "token", "cam", "--admin-socket", sock); code != 0 {
		t.Fatalf("device token: %d %s", code, errOut)
	}
	out, _, code := cli(t, "device", "token", "cam", "--list", "--admin-socket", sock, "--json")
	var ts []adminapi.TokenInfo
	if code != 0 || json.Unmarshal([]byte(out), &ts) != nil || len(ts) != 2 || ts[0].State != "valid" || len(ts[0].ID) != 16 {
		t.Fatalf("token --list: %d %q", code, out)
	}
	out, _, code = cli(t, "device", "token", "cam", "--cancel", "--admin-socket", sock)
	if code != 0 || !strings.Contains(out, "2 token(s) cancelled") {
		t.Fatalf("token --cancel: %d %q", code, out)
	}
	out, _, code = cli(t, "device", "token", "cam", "--list", "--admin-socket", sock)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "ID") {
		t.Fatalf("token --list after cancel: %d %q", code, out)
	}
	if _, errOut, code := cli(t, "device", "token", "cam", "--list", "--cancel", "--admin-socket", sock); code != 2 || !strings.Contains(errOut, "not both") {
		t.Fatalf("--list --cancel: %d %q", code, errOut)
	}
	if _, errOut, code := cli(t, "device", "show", "cam", "--cancel", "--admin-socket", sock); code != 2 || !strings.Contains(errOut, "device token") {
		t.Fatalf("--cancel on show: %d %q", code, errOut)
	}
	if _, errOut, code := cli(t, "device", "token", "ghost", "--list", "--admin-socket", sock); code != 1 || !strings.Contains(errOut, "ghost") {
		t.Fatalf("tokens of unknown device: %d %q", code, errOut)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, storeFile)
	var out, errOut bytes.Buffer
	if code := check([]string{"--data-dir", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "no store") {
		t.Fatalf("no store: %d %q", code, errOut.String())
	}
	st, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 50 {
		if err := st.CreateDevice(ctx, store.Device{ID: fmt.Sprintf("d%03d", i), Name: fmt.Sprintf("dev%d", i), Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	// A running home agent holds the store: check says so and fails.
	out.Reset()
	errOut.Reset()
	if code := check([]string{"--data-dir", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "stop it first") {
		t.Fatalf("locked store: %d %q", code, errOut.String())
	}
	st.Close()
	out.Reset()
	errOut.Reset()
	if code := check([]string{"--store", path}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "ok (50 devices") {
		t.Fatalf("healthy store: %d %q %q", code, out.String(), errOut.String())
	}
	// Damage every data page.
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2 * 4096; i < len(content); i++ {
		content[i] = 0x5a
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := check([]string{"--data-dir", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "corrupt") {
		t.Fatalf("damaged store: %d %q", code, errOut.String())
	}
	if code := check([]string{"extra"}, &out, &errOut); code != 2 {
		t.Fatalf("bad usage: exit %d", code)
	}
}
