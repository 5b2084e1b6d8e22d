package main

import (
	"errors"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
)

func TestNetworkFlags(t *testing.T) {
	parse := func(args ...string) (netlab.Network, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		nf := addNetworkFlags(fs)
		if err := fs.Parse(args); err != nil {
			return netlab.Network{}, err
		}
		return nf.network()
	}
	n, err := parse()
	if err != nil || n != (netlab.Network{}) {
		t.Fatalf("no flags: %+v, %v; want the ideal lab", n, err)
	}
	n, err = parse("-profile", "field", "-cell", "cellular-v6", "-nat-timeout", "2s")
	if err != nil {
		t.Fatal(err)
	}
	want := netlab.Network{Wifi: netlab.WifiProfile, Cell: netlab.CellularV6Profile}
	want.Wifi.NATUDPTimeout, want.Cell.NATUDPTimeout = 2*time.Second, 2*time.Second
	if n != want {
		t.Fatalf("got %+v, want %+v", n, want)
	}
	n, err = parse("-profile", "field", "-cell", "cellular,loss=0,mtu=1500")
	if err != nil {
		t.Fatal(err)
	}
	if n.Cell.Loss != 0 || n.Cell.MTU != 1500 || n.Cell.Delay != netlab.CellularProfile.Delay || n.Wifi != netlab.WifiProfile {
		t.Fatalf("overrides: %+v", n)
	}
	for _, bad := range [][]string{{"-profile", "moon"}, {"-wifi", "moon"}, {"-cell", "mtu=100"}, {"-nat-timeout", "1500ms"}} {
		if _, err := parse(bad...); !errors.Is(err, netlab.ErrBadNetwork) {
			t.Errorf("%v: %v, want ErrBadNetwork", bad, err)
		}
	}
}
