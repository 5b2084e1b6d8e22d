//go:build !linux || android

package tunnel

// NetlinkHandle is the type of Config.Netlink. There is no netlink here
// (Android lets apps configure their TUN only through VpnService): the
// type is an empty placeholder and the field is ignored.
type NetlinkHandle struct{}
