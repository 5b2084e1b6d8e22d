package netlab

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
)

// FlushNAT empties the connection-tracking table of a NAT router (Wifi,
// Cell or Carrier), so every flow through it gets a new mapping, with a
// new random public port, on its next packet.
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
