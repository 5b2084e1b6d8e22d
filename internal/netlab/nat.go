package netlab

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
)

// FlushNAT empties the IPv4 connection-tracking table of a NAT router
// (Wifi, Cell or Carrier), so every flow through it gets a new mapping,
// with a new random public port (NATSymmetric), on its next packet; a
// packet from outside to the old public port is not delivered any more.
// Flushing the carrier changes the public port ha sees for a cellular
// flow; flushing the cell router changes the inner port, which the
// carrier then maps anew as well.
func (l *Lab) FlushNAT(ctx context.Context, router *Node) error {
	if l.isClosed() {
		return ErrClosed
	}
	if router != l.Wifi && router != l.Cell && router != l.Carrier {
		return fmt.Errorf("%w: %v", ErrNotRouter, router)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h, err := router.Netlink()
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
		return fmt.Errorf("netlab: flushing conntrack in %s: %w", router.NS, err)
	}
	l.log.Info("NAT flushed", "router", router.Role)
	return nil
}

// FlushPathNATs forgets every NAT mapping on the paths mn is using now:
// the Wi-Fi router's when wlan0 is up, the cell router's and the
// carrier's CGNAT when wwan0 is up. Nothing happens at mn: its next
// packet (or none, if it only receives) meets a new mapping with a new
// public port. FlushNAT(ctx, l.Carrier) alone is the carrier rebinding
// its CGNAT while the inner NAT keeps its mapping.
func (l *Lab) FlushPathNATs(ctx context.Context) error {
	s := l.State()
	var routers []*Node
	if s.WifiUp {
		routers = append(routers, l.Wifi)
	}
	if s.CellUp {
		routers = append(routers, l.Cell, l.Carrier)
	}
	for _, r := range routers {
		if err := l.FlushNAT(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// BlackholeWifi makes the Wi-Fi router drop every packet from and to mn
// (on) or stop doing so (off). wlan0 stays up with its address: the path
// is dead without the node being told.
func (l *Lab) BlackholeWifi(ctx context.Context, on bool) error {
	if l.isClosed() {
		return ErrClosed
	}
	script := "flush chain inet homeip_blackhole pre\nflush chain inet homeip_blackhole post\n"
	if on {
		script += fmt.Sprintf("add rule inet homeip_blackhole pre iifname %q drop\n", wifiLAN)
		script += fmt.Sprintf("add rule inet homeip_blackhole post oifname %q drop\n", wifiLAN)
	}
	if err := l.Wifi.nft(ctx, script); err != nil {
		return fmt.Errorf("netlab: blackhole %v: %w", on, err)
	}
	l.log.Info("wifi blackhole", "on", on)
	return nil
}
