//go:build !linux

package client

// bindToDevice does nothing here: the probe socket follows the routing
// table, which the node points at the home agent through its primary link.
func bindToDevice(int, string) error { return nil }
