package client_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/homeip/homeip/client"
	"github.com/homeip/homeip/client/clienttest"
)

func TestFetchConfig(t *testing.T) {
	routes := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25")}
	ha := newHA(t, clienttest.Config{Routes: routes})
	tok, err := ha.AddDevice("phone")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := newDir(t)
	if _, err := client.FetchConfig(ctx, dir, client.EnrollOptions{}); !errors.Is(err, client.ErrNotEnrolled) {
		t.Fatalf("fetch before enrolment: %v", err)
	}
	if _, err := client.Enroll(ctx, dir, tok, client.EnrollOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := client.FetchConfig(ctx, dir, client.EnrollOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	vip4, vip6, _ := ha.VIPs("phone")
	if cfg.VIP4 != vip4 || cfg.VIP6 != vip6 || cfg.MTU != 1420 || len(cfg.Routes) != 1 || cfg.Routes[0] != routes[0] ||
		cfg.HAPublicKey != client.WGKey(ha.WGPublicKey()) || len(cfg.DNS) == 0 {
		t.Errorf("fetched %+v", cfg)
	}
	st, err := dir.Load()
	if err != nil || st.Config == nil || st.Config.VIP4 != vip4 {
		t.Fatalf("configuration not stored: %+v %v", st.Config, err)
	}
	if _, ok := ha.Binding("phone"); ok {
		t.Error("a configuration fetch left a binding")
	}

	// A running node holds the directory: the fetch refuses to share it.
	unlock, err := dir.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.FetchConfig(ctx, dir, client.EnrollOptions{}); err == nil {
		t.Error("fetch while the directory is locked succeeded")
	}
	unlock()

	ha.Revoke("phone")
	if _, err := client.FetchConfig(ctx, dir, client.EnrollOptions{}); !errors.Is(err, client.ErrRevoked) {
		t.Errorf("fetch of a revoked device: %v", err)
	}
}
