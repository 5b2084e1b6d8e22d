// Package mobile is a gomobile-bindable face over package client for
// Android (VpnService) and iOS (NetworkExtension) apps, the way the
// official WireGuard and Tailscale apps embed their Go cores. The data
// plane underneath (package tunnel) exists for Linux and Android only so
// far: on iOS, Start fails with tunnel.ErrUnsupported.
//
// # What an app does
//
//	Mobile.enroll(token, stateDir)                 // once, off the main thread
//	s = Mobile.tunnelSettings(stateDir, false)     // addresses, routes, DNS, MTU
//	pfd = new VpnService.Builder()...establish()   // the OS creates the TUN
//	node = Mobile.start(stateDir, pfd.getFd(), opts, callbacks)
//	node.networkChangedAddrs("wifi", "wlan0", "198.51.100.7/24")  // from the
//	                        // ConnectivityManager / NWPathMonitor callback
//	node.setPreferred("cellular")                  // optional
//	node.status()                                  // JSON, as `mnode status --json`
//	node.stop()
//
// The exported surface uses only what gobind binds: signed integers,
// floats, strings, booleans, byte slices, errors, pointers to this
// package's structs and this package's interfaces (TestGobindAPI parses
// the package and fails on anything else). Lists are comma-separated
// strings; status is JSON or the Status struct; callbacks are the
// Callbacks interface the app implements (state changes, log lines, and
// Protect, Android's VpnService.protect for the tunnel's UDP socket).
//
// # Settings before the TUN
//
// A mobile OS wants the addresses and routes before it creates the TUN,
// and enrolment does not carry them. Enroll therefore also fetches them
// (client.FetchConfig: one registration with the home agent over a
// temporary socket, then a deregistration), and TunnelSettings returns
// the configuration kept in the state directory, fetching it if it is
// missing. The node keeps it current on every registration; leases are
// sticky, so the addresses do not change. If the home agent's routes do
// change, the app rebuilds its TUN with the new TunnelSettings, which it
// may call while the node runs: it then reads, without any network
// exchange, what the node stored at its last registration.
//
// # The TUN descriptor
//
// Start duplicates the descriptor it is given (close-on-exec) and gives
// the duplicate to the data plane (tunnel.Config.TUNFD, wireguard-go's
// CreateUnmonitoredTUNFromFD), as wireguard-apple does: the app keeps its
// own descriptor and closes it as it always would; the node closes its
// copy on Stop. The data plane is created on the thread that calls Start,
// so its socket belongs to that thread's network (on Linux: namespace),
// and is protected through Callbacks.Protect before it is bound, again
// after every network change (the socket is reopened on a move).
//
// # Networks come from the app
//
// There is no netlink watcher: Android restricts netlink, iOS has none.
// The app reports networks as the OS reports them: NetworkChanged for the
// default network (it replaces what was known), or UpdateNetwork and
// RemoveNetwork for apps that track every usable network, so that the
// node keeps a standby path. Addresses are read from the OS when the app
// passes none (net.InterfaceByName); Android 11 and later forbid that to
// apps, which then pass LinkProperties' addresses. The networks become a
// client.State pushed into a client.PushWatcher; the node's movement
// detection, make-before-break handover and binding updates are the same
// code as on Linux.
//
// Preference between kinds can change at run time (SetPreferred), but
// client.Config.Preference is fixed when a node is made. The node is
// therefore given a preference that ranks every announced kind equally
// (client.Preference{client.KindUnknown}), and this package expresses its
// own order in the metrics of the synthetic default routes, which the
// node uses next (TestNetworksState checks the resulting order through
// client.State.Usable).
//
// # Threads, errors, logs
//
// Every blocking call (Enroll, TunnelSettings, Start, Stop) does network
// I/O: call it off the app's main thread. Node methods are safe for
// concurrent use. Callbacks are called from Go's threads and must return
// quickly; StateChanged calls are ordered and coalesced, the last one
// being "stopped". Errors read "mobile: CODE: detail" with CODE one of the
// Code constants (gobind hands the app only the message); Go callers can
// use ErrorCode, and errors.Is with client's sentinels. Log lines of the
// node, its data plane and wireguard-go go to Callbacks.Log at or above
// Options.LogLevel, with their component attribute.
//
// # Platforms and building
//
// The package depends on neither netlink nor water on Android and iOS
// (tunnel keeps netlink behind a linux && !android build tag; archtest
// checks the dependency lists for both). The data plane runs on Linux and
// Android; on iOS tunnel.New reports tunnel.ErrUnsupported today, so
// Start fails with CodeTunnel there while enrolment, settings and the
// rest of the API work. Bindings are built with
//
//	go get -tool golang.org/x/mobile/cmd/gobind   # in a checkout, not committed
//	gomobile bind -target=android ./mobile        # needs the Android SDK and NDK
//
// and vetted with GOOS=android GOARCH=arm64 go vet ./mobile/... and
// GOOS=ios GOARCH=arm64 CGO_ENABLED=1 go vet ./mobile/... (the plain
// GOOS=android / GOOS=ios forms stop in the go command on an amd64 host:
// android/amd64 and ios need cgo linking). TestCrossVet runs both;
// TestGomobileBind (opt-in, HOMEIP_GOMOBILE_BIN) runs gobind and
// gomobile on a copy of the module.
package mobile
