package handoverbench

import (
	"context"
	"fmt"

	"github.com/homeip/homeip/internal/netlab"
)

// Kind is a kind of move the benchmark measures (issue 8's numbering for
// 1-3; 4 and 5 come from real access networks).
type Kind int

// Kinds of move.
const (
	WifiToCell Kind = 1 // wlan0 goes away, wwan0 (behind two NATs) comes up
	CellToWifi Kind = 2 // wwan0 goes away, wlan0 comes up
	WifiSilent Kind = 3 // both links up, Wi-Fi preferred; Wi-Fi then drops everything
	NATFlush   Kind = 4 // on Wi-Fi only, the Wi-Fi NAT forgets every mapping
	StandbyUp  Kind = 5 // both links up (cellular the registered standby); wlan0 goes away
)

// AllKinds are the kinds the benchmark runs by default (issue 8's).
var AllKinds = []Kind{WifiToCell, CellToWifi, WifiSilent}

// KnownKinds are every kind the benchmark can run, in schedule order.
var KnownKinds = []Kind{WifiToCell, CellToWifi, WifiSilent, NATFlush, StandbyUp}

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
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// known reports whether k is one of KnownKinds.
func (k Kind) known() bool { return k >= WifiToCell && k <= StandbyUp }

// ParseKind parses "1" to "5".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "1":
		return WifiToCell, nil
	case "2":
		return CellToWifi, nil
	case "3":
		return WifiSilent, nil
	case "4":
		return NATFlush, nil
	case "5":
		return StandbyUp, nil
	}
	return 0, fmt.Errorf("handoverbench: move kind %q, want 1, 2, 3, 4 or 5", s)
}

// StartIface is the node's link before the move: where a settled homeip
// node has its primary path.
func (k Kind) StartIface() string {
	if k == CellToWifi {
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
	if k == CellToWifi || k == NATFlush {
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
	case WifiToCell, NATFlush:
		return lab.MoveToWifi(ctx)
	case CellToWifi:
		return lab.MoveToCell(ctx)
	case WifiSilent, StandbyUp:
		return lab.BothLinks(ctx)
	}
	return fmt.Errorf("handoverbench: unknown move kind %d", int(k))
}

// Move performs the move.
func (k Kind) Move(ctx context.Context, lab *netlab.Lab) error {
	switch k {
	case WifiToCell, StandbyUp:
		return lab.MoveToCell(ctx)
	case CellToWifi:
		return lab.MoveToWifi(ctx)
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
