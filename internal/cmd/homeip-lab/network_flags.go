package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/homeip/homeip/internal/netlab"
)

// networkFlags are the flags that choose the lab's access networks, shared
// by lab up, baseline, demo and bench-handover.
type networkFlags struct {
	profile    string
	wifi, cell string
	natTimeout time.Duration
}

// addNetworkFlags registers -profile, -wifi, -cell and -nat-timeout on fs.
func addNetworkFlags(fs *flag.FlagSet) *networkFlags {
	f := addLinkFlags(fs)
	fs.StringVar(&f.profile, "profile", "ideal", "access networks: "+strings.Join(netlab.ProfileNames(), ", ")+
		" (field: Wi-Fi MTU 1492, 5 ms; cellular MTU 1280, 60±15 ms, 1% loss; NAT UDP timeouts 30 s)")
	return f
}

// addLinkFlags registers -wifi, -cell and -nat-timeout on fs, which
// change whatever profile the command starts from.
func addLinkFlags(fs *flag.FlagSet) *networkFlags {
	f := &networkFlags{profile: "ideal"}
	linkHelp := " link, overriding -profile's: a link profile (" + strings.Join(netlab.LinkProfileNames(), ", ") +
		") and/or overrides, e.g. cellular,loss=0 or mtu=1280,delay=30ms (keys: mtu, path-mtu, silent, delay, jitter, loss, nat-timeout, nat, family)"
	fs.StringVar(&f.wifi, "wifi", "", "Wi-Fi"+linkHelp)
	fs.StringVar(&f.cell, "cell", "", "cellular"+linkHelp)
	fs.DurationVar(&f.natTimeout, "nat-timeout", 0, "NAT UDP timeout of every NAT, overriding the profiles' (whole seconds; 0: as the profiles say)")
	return f
}

// network returns the Network the flags describe.
func (f *networkFlags) network() (netlab.Network, error) {
	return f.networkFor(f.profile)
}

// networkFor returns the named profile changed by -wifi, -cell and
// -nat-timeout.
func (f *networkFlags) networkFor(profile string) (netlab.Network, error) {
	n, err := netlab.Profile(profile)
	if err != nil {
		return n, err
	}
	for _, l := range []struct {
		name string
		cfg  *netlab.LinkConfig
	}{{f.wifi, &n.Wifi}, {f.cell, &n.Cell}} {
		if l.name == "" {
			continue
		}
		if *l.cfg, err = netlab.ParseLink(l.name); err != nil {
			return n, err
		}
	}
	if f.natTimeout != 0 {
		n.Wifi.NATUDPTimeout, n.Cell.NATUDPTimeout = f.natTimeout, f.natTimeout
	}
	if err := n.Validate(); err != nil {
		return n, err
	}
	return n, nil
}

// describeNetwork prints the access networks in two lines.
func describeNetwork(w io.Writer, indent string, n netlab.Network) {
	fmt.Fprintf(w, "%sWi-Fi:    %v\n", indent, n.Wifi)
	fmt.Fprintf(w, "%scellular: %v\n", indent, n.Cell)
}
