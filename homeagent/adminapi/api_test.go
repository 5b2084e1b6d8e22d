package adminapi

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fakeBackend struct{ devices map[string]Device }

func (f *fakeBackend) AddDevice(name string) (AddDeviceResult, error) {
	if name == "" {
		return AddDeviceResult{}, fmt.Errorf("%w: empty name", ErrInvalid)
	}
	if _, ok := f.devices[name]; ok {
		return AddDeviceResult{}, fmt.Errorf("%w: exists", ErrConflict)
	}
	f.devices[name] = Device{Name: name, State: "pending"}
	return AddDeviceResult{Device: f.devices[name], Token: "hip1-x"}, nil
}
func (f *fakeBackend) NewToken(name string) (AddDeviceResult, error) {
	d, err := f.Device(name)
	return AddDeviceResult{Device: d, Token: "hip1-y"}, err
}
func (f *fakeBackend) Tokens(name string) ([]TokenInfo, error) {
	_, err := f.Device(name)
	return []TokenInfo{{ID: "0011223344556677", State: "valid"}}, err
}
func (f *fakeBackend) CancelTokens(name string) (CancelTokensResult, error) {
	_, err := f.Device(name)
	return CancelTokensResult{Cancelled: 1}, err
}
func (f *fakeBackend) Devices() ([]Device, error) {
	var out []Device
	for _, d := range f.devices {
		out = append(out, d)
	}
	return out, nil
}
func (f *fakeBackend) Device(name string) (Device, error) {
	d, ok := f.devices[name]
	if !ok {
		return Device{}, fmt.Errorf("%w: no device %q", ErrNotFound, name)
	}
	return d, nil
}
func (f *fakeBackend) RevokeDevice(name string) (Device, error) { return f.Device(name) }
func (f *fakeBackend) RenameDevice(name, n string) (Device, error) {
	d, err := f.Device(name)
	d.Name = n
	return d, err
}
func (f *fakeBackend) ReserveAddr(name string, a netip.Addr) (Device, error) {
	d, err := f.Device(name)
	d.Reserved = []netip.Addr{a}
	return d, err
}
func (f *fakeBackend) UnreserveAddr(name string, a netip.Addr) (Device, error) {
	d, err := f.Device(name)
	d.Reserved = nil
	return d, err
}
func (f *fakeBackend) DeleteDevice(name string) (DeleteResult, error) {
	d, err := f.Device(name)
	if err != nil {
		return DeleteResult{}, err
	}
	delete(f.devices, name)
	return DeleteResult{Device: d, Quarantined: []netip.Addr{d.VIP4}}, nil
}
func (f *fakeBackend) ExportDevice(name string) (Export, error) {
	return Export{Config: "[Interface]\n"}, nil
}
func (f *fakeBackend) Bindings() ([]Binding, error) { return nil, nil }
func (f *fakeBackend) Pool() ([]PoolPrefix, error) {
	return []PoolPrefix{{Prefix: netip.MustParsePrefix("10.64.0.0/16"), Capacity: 65534}}, nil
}
func (f *fakeBackend) Drain() (DrainResult, error) { return DrainResult{}, errors.New("boom") }

func TestRoundTrip(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s", "ha.sock")
	srv, err := Listen(sock, NewHandler(&fakeBackend{devices: map[string]Device{}}, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}
	if _, err := Listen(sock, NewHandler(&fakeBackend{}, nil), nil); err == nil {
		t.Fatal("second server on a live socket")
	}
	c := NewClient(sock)
	if r, err := c.AddDevice("cam"); err != nil || r.Token != "hip1-x" {
		t.Fatalf("%+v %v", r, err)
	}
	if r, err := c.NewToken("cam"); err != nil || r.Token != "hip1-y" {
		t.Fatalf("new token %+v %v", r, err)
	}
	if ts, err := c.Tokens("cam"); err != nil || len(ts) != 1 || ts[0].State != "valid" {
		t.Fatalf("tokens %+v %v", ts, err)
	}
	if r, err := c.CancelTokens("cam"); err != nil || r.Cancelled != 1 {
		t.Fatalf("cancel tokens %+v %v", r, err)
	}
	if _, err := c.CancelTokens("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel tokens of unknown: %v", err)
	}
	if _, err := c.AddDevice("cam"); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	if _, err := c.AddDevice(""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid: %v", err)
	}
	if _, err := c.Device("nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("not found: %v", err)
	}
	if d, err := c.ReserveAddr("cam", netip.MustParseAddr("10.64.0.9")); err != nil || d.Reserved[0] != netip.MustParseAddr("10.64.0.9") {
		t.Fatalf("%+v %v", d, err)
	}
	if d, err := c.UnreserveAddr("cam", netip.MustParseAddr("10.64.0.9")); err != nil || len(d.Reserved) != 0 {
		t.Fatalf("unreserve %+v %v", d, err)
	}
	if d, err := c.RenameDevice("cam", "a/b"); err != nil || d.Name != "a/b" {
		t.Fatalf("%+v %v", d, err)
	}
	if r, err := c.DeleteDevice("cam"); err != nil || r.Device.Name != "cam" {
		t.Fatalf("delete %+v %v", r, err)
	}
	if _, err := c.DeleteDevice("cam"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := c.Drain(); err == nil || errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("drain: %v", err)
	}
	if p, err := c.Pool(); err != nil || len(p) != 1 {
		t.Fatalf("%+v %v", p, err)
	}
	srv.Close()
	srv.Close()
	if _, err := os.Stat(sock); err == nil {
		t.Fatal("socket left after Close")
	}
	if _, err := c.Devices(); err == nil {
		t.Fatal("client works after Close")
	}
	// A stale socket file (daemon killed) is replaced.
	os.WriteFile(sock, nil, 0o600)
	srv2, err := Listen(sock, NewHandler(&fakeBackend{devices: map[string]Device{}}, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv2.Close()
}
