package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
)

func a4(a netip.Addr, p netip.Prefix, dev string) string {
	return fmt.Sprintf("addr replace %s/%d dev %s", a, p.Bits(), dev)
}

func a6(a netip.Addr, p netip.Prefix, dev string) string {
	return fmt.Sprintf("addr replace %s/%d dev %s nodad", a, p.Bits(), dev)
}

// wifiUpCmds gives wlan0 (already up, see applyLocked) its addresses in
// subnet A or B and its default routes, for the IP versions of fam.
func wifiUpCmds(subnetB bool, fam Family) []string {
	a4a, a6a, p4, p6, gw4, gw6 := MNWifiA4, MNWifiA6, WifiLANA4, WifiLANA6, WifiRouterA4, WifiRouterA6
	if subnetB {
		a4a, a6a, p4, p6, gw4, gw6 = MNWifiB4, MNWifiB6, WifiLANB4, WifiLANB6, WifiRouterB4, WifiRouterB6
	}
	var cmds []string
	if fam.has4() {
		cmds = append(cmds, a4(a4a, p4, WifiIface))
	}
	if fam.has6() {
		cmds = append(cmds, a6(a6a, p6, WifiIface))
	}
	if fam.has4() {
		cmds = append(cmds, fmt.Sprintf("route replace 0.0.0.0/0 via %s dev %s metric %d", gw4, WifiIface, WifiMetric))
	}
	if fam.has6() {
		cmds = append(cmds, fmt.Sprintf("route replace ::/0 via %s dev %s metric %d", gw6, WifiIface, WifiMetric))
	}
	return cmds
}

// cellUpCmds gives wwan0 (already up) its addresses and default routes,
// for the IP versions of fam.
func cellUpCmds(fam Family) []string {
	var cmds []string
	if fam.has4() {
		cmds = append(cmds, a4(MNCell4, CellLAN4, CellIface))
	}
	if fam.has6() {
		cmds = append(cmds, a6(MNCell6, CellLAN6, CellIface))
	}
	if fam.has4() {
		cmds = append(cmds, fmt.Sprintf("route replace 0.0.0.0/0 via %s dev %s metric %d", CellRouter4, CellIface, CellMetric))
	}
	if fam.has6() {
		cmds = append(cmds, fmt.Sprintf("route replace ::/0 via %s dev %s metric %d", CellRouter6, CellIface, CellMetric))
	}
	return cmds
}

// downCmds takes a link away the way a lost radio does: its addresses
// (and with them its routes) vanish and the link goes down.
func downCmds(dev string) []string {
	return []string{"addr flush dev " + dev, "link set " + dev + " down"}
}

// applyLocked moves mn from l.state to want. Links going down are taken
// down before links coming up (break before make), and a link that stays
// as it is is not touched, so a watcher on mn sees only the real change.
// A link coming up gets its addresses and routes only once the link layer
// works at both ends, as a real radio gets its address (DHCP) only after
// it associated: a veth end activates its transmit queue asynchronously
// (the kernel's link watch), and an address given at once let mn's first
// ARP request for its gateway go unanswered, costing a 1 s ARP retry.
// After a failed step the kernel state is unknown and the next call
// rewrites both links completely. l.moveMu is held.
func (l *Lab) applyLocked(ctx context.Context, want MNState) error {
	if l.isClosed() {
		return ErrClosed
	}
	cur := l.state
	var down, config []string
	var up []upLink
	wifiUp := upLink{WifiIface, l.Wifi, wifiLAN}
	cellUp := upLink{CellIface, l.Cell, cellRAN}
	switch {
	case l.dirty:
		down = append(down, downCmds(WifiIface)...)
		if !want.CellUp {
			down = append(down, downCmds(CellIface)...)
		}
		if want.WifiUp {
			up = append(up, wifiUp)
			config = append(config, wifiUpCmds(want.WifiSubnetB, want.WifiFamily)...)
		}
		if want.CellUp {
			up = append(up, cellUp)
			config = append(config, cellUpCmds(want.CellFamily)...)
		}
	default:
		wifiChanges := cur.WifiUp != want.WifiUp ||
			(want.WifiUp && (cur.WifiSubnetB != want.WifiSubnetB || cur.WifiFamily != want.WifiFamily))
		cellChanges := cur.CellUp != want.CellUp || (want.CellUp && cur.CellFamily != want.CellFamily)
		if cur.WifiUp && wifiChanges {
			down = append(down, downCmds(WifiIface)...)
		}
		if cur.CellUp && cellChanges {
			down = append(down, downCmds(CellIface)...)
		}
		if want.WifiUp && wifiChanges {
			up = append(up, wifiUp)
			config = append(config, wifiUpCmds(want.WifiSubnetB, want.WifiFamily)...)
		}
		if want.CellUp && cellChanges {
			up = append(up, cellUp)
			config = append(config, cellUpCmds(want.CellFamily)...)
		}
	}
	if len(down)+len(config) == 0 {
		l.state = want
		return nil
	}
	cmds := down
	for _, u := range up {
		cmds = append(cmds, "link set "+u.dev+" up")
	}
	if err := l.MN.ip(ctx, cmds...); err != nil {
		l.dirty = true
		return fmt.Errorf("netlab: moving mn to %+v: %w", want, err)
	}
	for _, u := range up {
		if err := l.waitLinkUp(ctx, u); err != nil {
			l.dirty = true
			return fmt.Errorf("netlab: moving mn to %+v: %w", want, err)
		}
	}
	if len(config) > 0 {
		if err := l.MN.ip(ctx, config...); err != nil {
			l.dirty = true
			return fmt.Errorf("netlab: moving mn to %+v: %w", want, err)
		}
	}
	l.log.Info("mn moved", "from", cur, "to", want)
	l.state, l.dirty = want, false
	return nil
}

// upLink is one of mn's links coming up: its name on mn, and the router
// and interface at the other end.
type upLink struct {
	dev    string
	router *Node
	peer   string
}

// linkUpTimeout bounds the wait for a veth pair to come up at both ends;
// it takes well under a millisecond normally.
const linkUpTimeout = 5 * time.Second

// waitLinkUp waits until both ends of u are operationally up, polling
// every half millisecond.
func (l *Lab) waitLinkUp(ctx context.Context, u upLink) error {
	ends := []struct {
		n   *Node
		dev string
	}{{l.MN, u.dev}, {u.router, u.peer}}
	deadline := time.Now().Add(linkUpTimeout)
	for _, e := range ends {
		h, err := e.n.Netlink()
		if err != nil {
			return err
		}
		for {
			link, err := h.LinkByName(e.dev)
			if err != nil {
				h.Close()
				return fmt.Errorf("netlab: %s: reading %s: %w", e.n.NS, e.dev, err)
			}
			if link.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(deadline) {
				h.Close()
				return fmt.Errorf("netlab: %s: %s still %s after %v", e.n.NS, e.dev, link.Attrs().OperState, linkUpTimeout)
			}
			select {
			case <-ctx.Done():
				h.Close()
				return ctx.Err()
			case <-time.After(500 * time.Microsecond):
			}
		}
		h.Close()
	}
	return nil
}

func (l *Lab) move(ctx context.Context, f func(MNState) MNState) error {
	l.moveMu.Lock()
	defer l.moveMu.Unlock()
	return l.applyLocked(ctx, f(l.state))
}

// withWifi returns s with wlan0 up in its current subnet, with the IP
// versions it has if already up and those of the Wi-Fi configuration
// otherwise.
func (l *Lab) withWifi(s MNState) MNState {
	if !s.WifiUp {
		s.WifiFamily = l.net.Wifi.Family
	}
	s.WifiUp = true
	return s
}

// withCell is withWifi for wwan0.
func (l *Lab) withCell(s MNState) MNState {
	if !s.CellUp {
		s.CellFamily = l.net.Cell.Family
	}
	s.CellUp = true
	return s
}

func withoutWifi(s MNState) MNState { s.WifiUp, s.WifiFamily = false, DualStack; return s }
func withoutCell(s MNState) MNState { s.CellUp, s.CellFamily = false, DualStack; return s }

// MoveToCell takes wlan0 away (addresses flushed, link down) and brings
// wwan0 up with its addresses and default routes (the IP versions of
// Network.Cell.Family). When wwan0 is already up (after BothLinks), it is
// left untouched: the standby link was up all along and only Wi-Fi goes.
func (l *Lab) MoveToCell(ctx context.Context) error {
	return l.move(ctx, func(s MNState) MNState { return l.withCell(withoutWifi(s)) })
}

// MoveToWifi takes wwan0 away and brings wlan0 up in its current subnet
// (with the IP versions of Network.Wifi.Family). With a Network.Wifi
// that has a silent PathMTU (HotelWifiProfile) this is the move onto the
// silent-drop path.
func (l *Lab) MoveToWifi(ctx context.Context) error {
	return l.move(ctx, func(s MNState) MNState { return l.withWifi(withoutCell(s)) })
}

// BothLinks brings both links up; Wi-Fi's default routes have the lower
// metric, so Wi-Fi is preferred. A MoveToCell afterwards is "the standby
// link is already up, then Wi-Fi goes down".
func (l *Lab) BothLinks(ctx context.Context) error {
	return l.move(ctx, func(s MNState) MNState { return l.withCell(l.withWifi(s)) })
}

// MoveToCellIPv6 takes wlan0 away and brings wwan0 up with IPv6 only,
// whatever Network.Cell.Family says: from an IPv4 underlay behind NAT (or
// a dual-stack one) to an IPv6-only one. wwan0 is re-addressed if it was
// up with IPv4.
func (l *Lab) MoveToCellIPv6(ctx context.Context) error {
	return l.move(ctx, func(s MNState) MNState {
		s = withoutWifi(s)
		s.CellUp, s.CellFamily = true, IPv6Only
		return s
	})
}

// MoveToWifiIPv4 takes wwan0 away and brings wlan0 up with IPv4 only
// (behind the Wi-Fi NAT), whatever Network.Wifi.Family says: from an
// IPv6 underlay to an IPv4 one behind NAT.
func (l *Lab) MoveToWifiIPv4(ctx context.Context) error {
	return l.move(ctx, func(s MNState) MNState {
		s = withoutCell(s)
		s.WifiUp, s.WifiFamily = true, IPv4Only
		return s
	})
}

// RenumberWifi moves wlan0 into the other subnet behind the Wi-Fi router
// (A ↔ B): the old address goes, the new one comes. wlan0 ends up up even
// if it was down; wwan0 is left as it is.
func (l *Lab) RenumberWifi(ctx context.Context) error {
	return l.move(ctx, func(s MNState) MNState {
		s = l.withWifi(s)
		s.WifiSubnetB = !s.WifiSubnetB
		return s
	})
}

// FlapWifi takes wlan0 away for the given time and brings it back with the
// same address. wlan0 comes back even if ctx ends during the wait.
func (l *Lab) FlapWifi(ctx context.Context, down time.Duration) error {
	l.moveMu.Lock()
	defer l.moveMu.Unlock()
	before := l.state
	if err := l.applyLocked(ctx, withoutWifi(before)); err != nil {
		return err
	}
	t := time.NewTimer(down)
	defer t.Stop()
	var waitErr error
	select {
	case <-t.C:
	case <-ctx.Done():
		waitErr = ctx.Err()
	}
	upCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	want := l.withWifi(before)
	if err := l.applyLocked(upCtx, want); err != nil {
		return err
	}
	if waitErr != nil {
		return fmt.Errorf("netlab: flapping wlan0: %w", waitErr)
	}
	return nil
}
