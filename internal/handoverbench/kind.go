package handoverbench

import (
	"context"
	"fmt"

	"github.com/homeip/homeip/internal/netlab"
)

// Kind is a kind of move the benchmark measures (issue 8's numbering).
type Kind int

// Kinds of move.
const (
	WifiToCell Kind = 1 // wlan0 goes away, wwan0 (behind two NATs) comes up
	CellToWifi Kind = 2 // wwan0 goes away, wlan0 comes up
	WifiSilent Kind = 3 // both links up, Wi-Fi preferred; Wi-Fi then drops everything
)

// AllKinds are the kinds the benchmark runs by default.
var AllKinds = []Kind{WifiToCell, CellToWifi, WifiSilent}

// String names the kind for tables.
func (k Kind) String() string {
	switch k {
	case WifiToCell:
		return "1 wifi→cell"
	case CellToWifi:
		return "2 cell→wifi"
	case WifiSilent:
		return "3 wifi dies silently"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ParseKind parses "1", "2" or "3".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "1":
		return WifiToCell, nil
	case "2":
		return CellToWifi, nil
	case "3":
		return WifiSilent, nil
	}
	return 0, fmt.Errorf("handoverbench: move kind %q, want 1, 2 or 3", s)
}

// StartIface is the node's link before the move: where a settled homeip
// node has its primary path.
func (k Kind) StartIface() string {
	if k == CellToWifi {
		return netlab.CellIface
	}
	return netlab.WifiIface
}

// EndIface is the node's link after the move.
func (k Kind) EndIface() string {
	if k == CellToWifi {
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
	case WifiToCell:
		return lab.MoveToWifi(ctx)
	case CellToWifi:
		return lab.MoveToCell(ctx)
	case WifiSilent:
		return lab.BothLinks(ctx)
	}
	return fmt.Errorf("handoverbench: unknown move kind %d", int(k))
}

// Move performs the move.
func (k Kind) Move(ctx context.Context, lab *netlab.Lab) error {
	switch k {
	case WifiToCell:
		return lab.MoveToCell(ctx)
	case CellToWifi:
		return lab.MoveToWifi(ctx)
	case WifiSilent:
		return lab.BlackholeWifi(ctx, true)
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
