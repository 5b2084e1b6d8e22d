package handoverbench

import (
	"context"
	"fmt"

	"github.com/homeip/homeip/internal/netlab"
)

// Kind is a kind of move the benchmark measures (issue 8's numbering for
// 1-3; 4 to 8 come from real access networks).
type Kind int

// Kinds of move.
const (
	WifiToCell Kind = 1 // wlan0 goes away, wwan0 (behind two NATs) comes up
	CellToWifi Kind = 2 // wwan0 goes away, wlan0 comes up
	WifiSilent Kind = 3 // both links up, Wi-Fi preferred; Wi-Fi then drops everything
	NATFlush   Kind = 4 // on Wi-Fi only, the Wi-Fi NAT forgets every mapping
	StandbyUp  Kind = 5 // both links up (cellular the registered standby); wlan0 goes away
	BulkToCell Kind = 6 // as 1, with a bulk transfer running instead of spaced records
	V4ToV6     Kind = 7 // Wi-Fi with IPv4 only (behind NAT) → cellular with IPv6 only
	V6ToV4     Kind = 8 // cellular with IPv6 only → Wi-Fi with IPv4 only
)

// AllKinds are the kinds the benchmark runs by default: every kind.
var AllKinds = []Kind{WifiToCell, CellToWifi, WifiSilent, NATFlush, StandbyUp, BulkToCell, V4ToV6, V6ToV4}

// KnownKinds are every kind the benchmark can run, in schedule order.
var KnownKinds = AllKinds

// String names the kind for tables.
func (k Kind) String() string {
	switch k {
	case WifiToCell:
		return "1 wifi→cell"
	case CellToWifi:
		return "2 cell→wifi"
	case WifiSilent:
		return "3 wifi dies silently"
	case NATFlush:
		return "4 wifi NAT flushed"
	case StandbyUp:
		return "5 wifi→standby cell"
	case BulkToCell:
		return "6 wifi→cell, bulk"
	case V4ToV6:
		return "7 wifi v4→cell v6"
	case V6ToV4:
		return "8 cell v6→wifi v4"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// known reports whether k is one of KnownKinds.
func (k Kind) known() bool { return k >= WifiToCell && k <= V6ToV4 }

// ParseKind parses "1" to "8".
func ParseKind(s string) (Kind, error) {
	if len(s) == 1 && s[0] >= '1' && s[0] <= '8' {
		return Kind(s[0] - '0'), nil
	}
	return 0, fmt.Errorf("handoverbench: move kind %q, want 1 to 8", s)
}

// Bulk reports whether the move is measured on a bulk transfer
// (StreamSpec.Bulk) rather than on records spaced Config.Interval apart.
func (k Kind) Bulk() bool { return k == BulkToCell }

// StartIface is the node's link before the move: where a settled homeip
// node has its primary path.
func (k Kind) StartIface() string {
	if k == CellToWifi || k == V6ToV4 {
		return netlab.CellIface
	}
	return netlab.WifiIface
}

// StartStandby is the node's standby link before the move ("" for none):
// where both links are up, a settled homeip node has registered cellular
// as its standby.
func (k Kind) StartStandby() string {
	if k == WifiSilent || k == StandbyUp {
		return netlab.CellIface
	}
	return ""
}

// EndIface is the node's link after the move.
func (k Kind) EndIface() string {
	if k == CellToWifi || k == NATFlush || k == V6ToV4 {
		return netlab.WifiIface
	}
	return netlab.CellIface
}

// Prepare puts the lab in the state the move starts from.
func (k Kind) Prepare(ctx context.Context, lab *netlab.Lab) error {
	if err := lab.BlackholeWifi(ctx, false); err != nil {
		return err
	}
	switch k {
	case WifiToCell, NATFlush, BulkToCell:
		return lab.MoveToWifi(ctx)
	case CellToWifi:
		return lab.MoveToCell(ctx)
	case WifiSilent, StandbyUp:
		return lab.BothLinks(ctx)
	case V4ToV6:
		return lab.MoveToWifiIPv4(ctx)
	case V6ToV4:
		return lab.MoveToCellIPv6(ctx)
	}
	return fmt.Errorf("handoverbench: unknown move kind %d", int(k))
}

// Move performs the move.
func (k Kind) Move(ctx context.Context, lab *netlab.Lab) error {
	switch k {
	case WifiToCell, StandbyUp, BulkToCell:
		return lab.MoveToCell(ctx)
	case CellToWifi:
		return lab.MoveToWifi(ctx)
	case V4ToV6:
		return lab.MoveToCellIPv6(ctx)
	case V6ToV4:
		return lab.MoveToWifiIPv4(ctx)
	case WifiSilent:
		return lab.BlackholeWifi(ctx, true)
	case NATFlush:
		return lab.FlushNAT(ctx, lab.Wifi)
	}
	return fmt.Errorf("handoverbench: unknown move kind %d", int(k))
}

// Restore undoes what Move left that the next Prepare would not: the
// Wi-Fi blackhole.
func (k Kind) Restore(ctx context.Context, lab *netlab.Lab) error {
	if k == WifiSilent {
		return lab.BlackholeWifi(ctx, false)
	}
	return nil
}
