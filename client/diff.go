package client

import (
	"fmt"
	"slices"
)

// Delta is the decision [Diff] takes about two network states.
type Delta struct {
	// Primary is the link the node should send through now; valid when
	// HasPrimary.
	Primary    Link
	HasPrimary bool
	// Standby is the second-best usable link (another interface), to be
	// registered as a standby care-of entry; valid when HasStandby.
	Standby    Link
	HasStandby bool
	// PathChanged is true when the node must rebind its socket and send a
	// binding update: the primary link appeared, vanished, moved to another
	// interface, or its addresses or gateway changed.
	PathChanged bool
	// StandbyChanged is true when the standby link appeared, vanished or
	// changed while the primary path stayed the same.
	StandbyChanged bool
	// Reason says in words why the path changed ("" when it did not).
	Reason string
}

// Diff compares two network states and decides whether the path to the
// home agent changed and which interface is preferred now. It is a pure
// function of its arguments. Changes that do not touch the preferred or
// standby link (another interface's addresses, a route metric that does not
// change the order) are not a path change.
func Diff(old, cur State, pref Preference) Delta {
	before := old.Usable(pref)
	after := cur.Usable(pref)
	var d Delta
	if len(after) > 0 {
		d.Primary, d.HasPrimary = after[0], true
	}
	if len(after) > 1 {
		d.Standby, d.HasStandby = after[1], true
	}
	switch {
	case len(before) == 0 && len(after) == 0:
		// Nothing usable before or after: nothing to do.
	case len(before) == 0:
		d.PathChanged = true
		d.Reason = fmt.Sprintf("link %s (%s) came up", d.Primary.Name, d.Primary.Kind)
	case len(after) == 0:
		d.PathChanged = true
		d.Reason = fmt.Sprintf("no usable link left (%s gone)", before[0].Name)
	case before[0].Index != after[0].Index:
		d.PathChanged = true
		d.Reason = fmt.Sprintf("preferred link %s (%s) -> %s (%s)", before[0].Name, before[0].Kind, after[0].Name, after[0].Kind)
	case !sameLinkPath(before[0], after[0]):
		d.PathChanged = true
		d.Reason = fmt.Sprintf("link %s changed addresses or gateway", after[0].Name)
	}
	if !d.PathChanged {
		hadStandby := len(before) > 1
		switch {
		case hadStandby != d.HasStandby:
			d.StandbyChanged = true
		case hadStandby && (before[1].Index != d.Standby.Index || !sameLinkPath(before[1], d.Standby)):
			d.StandbyChanged = true
		}
	}
	return d
}

// sameLinkPath reports whether two views of the same interface send from
// the same addresses through the same gateways.
func sameLinkPath(a, b Link) bool {
	return a.Index == b.Index &&
		slices.Equal(a.globalAddrs(), b.globalAddrs()) &&
		a.Gateway4 == b.Gateway4 && a.Gateway6 == b.Gateway6 &&
		a.HasDefault4 == b.HasDefault4 && a.HasDefault6 == b.HasDefault6
}
