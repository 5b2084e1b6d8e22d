//go:build linux && !android

package tunnel

import "github.com/vishvananda/netlink"

// NetlinkHandle is the type of Config.Netlink: a *netlink.Handle bound to
// the namespace the interface is configured in. On Android and other
// systems it is an empty placeholder, so that the mobile library does not
// link netlink at all.
type NetlinkHandle = netlink.Handle
