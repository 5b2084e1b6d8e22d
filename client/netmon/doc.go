// Package netmon is the Linux face of the mobile node's OS seams: a
// netlink watcher that reduces link, address and route notifications to a
// client.State (client.NetWatcher), and a client.Host that puts the VIPs
// and routes on the tunnel interface and keeps the home agent routed
// through the chosen physical link, all through a *netlink.Handle.
//
// Interface kinds come from, in order: Config.Kinds; sysfs
// (/sys/class/net/NAME/wireless, or DEVTYPE=wlan/wwan in its uevent) when
// the watcher runs in the namespace its /sys shows; the name
// (client.KindFromName: wl* Wi-Fi, ww* cellular, e* wired).
//
// DNS: the home agent announces DNS servers and a search domain. By
// default the Host does not touch the resolver: on a host with
// systemd-resolved, point it at the tunnel with
//
//	resolvectl dns homeip0 192.0.2.129
//	resolvectl domain homeip0 ~home.example
//
// (per-link DNS; names of the home domain go through the tunnel). With
// HostConfig.WriteResolvConf the Host replaces /etc/resolv.conf (a symlink
// is replaced by a file) with the announced servers and restores the
// original on Close.
//
// The tunnel interface itself is configured by tunnel.ConfigureLink, the
// same configurator the data plane uses when it creates the interface.
// On Android, where VpnService configures the interface and netlink is
// out of bounds, the package is empty.
package netmon
