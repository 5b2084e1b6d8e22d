package netlab

import "net/netip"

// The addressing plan of every lab. It is fixed: tests, the demo and the
// benchmarks address nodes through these values, and two labs running at
// once use the same addresses in their own namespaces.
var (
	// Home LAN between cn and ha.
	HomeLAN4 = netip.MustParsePrefix("192.0.2.0/25")
	HomeLAN6 = netip.MustParsePrefix("2001:db8:1::/64")
	HALAN4   = netip.MustParseAddr("192.0.2.1")     // ha on the home LAN, cn's IPv4 gateway
	HALAN6   = netip.MustParseAddr("2001:db8:1::1") // ha on the home LAN, cn's IPv6 gateway
	CN4      = netip.MustParseAddr("192.0.2.10")    // the correspondent node
	CN6      = netip.MustParseAddr("2001:db8:1::10")

	// VIP pools the lab's home agent hands out, and the home agent's own
	// tunnel addresses inside them. The lab only routes them (cn's default
	// route points at ha); the home agent's TUN carries them.
	VIPPool4  = netip.MustParsePrefix("192.0.2.128/25")
	VIPPool6  = netip.MustParsePrefix("2001:db8:100::/64")
	HATunnel4 = netip.MustParseAddr("192.0.2.129")
	HATunnel6 = netip.MustParseAddr("2001:db8:100::1")

	// The "internet" between the routers and ha, and ha's published
	// addresses (on ha's loopback) that mobile nodes reach it at.
	Internet4      = netip.MustParsePrefix("198.18.0.0/15")
	HAPublic4      = netip.MustParseAddr("198.18.0.1")
	HAPublic6      = netip.MustParseAddr("2001:db8:ffff::1")
	WifiWAN4       = netip.MustParsePrefix("198.18.1.0/24") // ha .1, wifi router .2
	WifiWAN6       = netip.MustParsePrefix("2001:db8:ff01::/64")
	HAWifi4        = netip.MustParseAddr("198.18.1.1")
	HAWifi6        = netip.MustParseAddr("2001:db8:ff01::1")
	WifiPublic4    = netip.MustParseAddr("198.18.1.2") // the Wi-Fi NAT's public address
	WifiPublic6    = netip.MustParseAddr("2001:db8:ff01::2")
	CellWAN4       = netip.MustParsePrefix("198.18.2.0/24") // ha .1, carrier .2
	CellWAN6       = netip.MustParsePrefix("2001:db8:ff02::/64")
	HACell4        = netip.MustParseAddr("198.18.2.1")
	HACell6        = netip.MustParseAddr("2001:db8:ff02::1")
	CarrierPublic4 = netip.MustParseAddr("198.18.2.2") // the carrier NAT's public address
	CarrierPublic6 = netip.MustParseAddr("2001:db8:ff02::2")

	// Wi-Fi LAN behind the home NAT, in two subnets that RenumberWifi
	// toggles between (A is where a lab starts). IPv6 is routed, not
	// translated.
	WifiLANA4    = netip.MustParsePrefix("198.51.100.0/25")
	WifiLANB4    = netip.MustParsePrefix("198.51.100.128/25")
	WifiLANA6    = netip.MustParsePrefix("2001:db8:10::/64")
	WifiLANB6    = netip.MustParsePrefix("2001:db8:11::/64")
	WifiRouterA4 = netip.MustParseAddr("198.51.100.1")
	WifiRouterB4 = netip.MustParseAddr("198.51.100.129")
	WifiRouterA6 = netip.MustParseAddr("2001:db8:10::1")
	WifiRouterB6 = netip.MustParseAddr("2001:db8:11::1")
	MNWifiA4     = netip.MustParseAddr("198.51.100.10")
	MNWifiB4     = netip.MustParseAddr("198.51.100.130")
	MNWifiA6     = netip.MustParseAddr("2001:db8:10::10")
	MNWifiB6     = netip.MustParseAddr("2001:db8:11::10")

	// Cellular: mn's wwan0 sits behind two NAT stages, the cell router
	// (100.64.1.0/24 → 100.64.2.2) and the carrier (100.64.0.0/10 →
	// CarrierPublic4). IPv6 is routed end to end.
	CellLAN4    = netip.MustParsePrefix("100.64.1.0/24")
	CellLAN6    = netip.MustParsePrefix("2001:db8:20::/64")
	CellRouter4 = netip.MustParseAddr("100.64.1.1")
	CellRouter6 = netip.MustParseAddr("2001:db8:20::1")
	MNCell4     = netip.MustParseAddr("100.64.1.10")
	MNCell6     = netip.MustParseAddr("2001:db8:20::10")
	CarrierLAN4 = netip.MustParsePrefix("100.64.2.0/24") // carrier .1, cell router .2
	CarrierLAN6 = netip.MustParsePrefix("2001:db8:ff03::/64")
	CarrierIn4  = netip.MustParseAddr("100.64.2.1")
	CarrierIn6  = netip.MustParseAddr("2001:db8:ff03::1")
	CellUplink4 = netip.MustParseAddr("100.64.2.2") // the cell router's (inner NAT's) outside address
	CellUplink6 = netip.MustParseAddr("2001:db8:ff03::2")
	CGNAT       = netip.MustParsePrefix("100.64.0.0/10")
)

// Interface names inside the mobile node's namespace.
const (
	WifiIface = "wlan0"
	CellIface = "wwan0"
)

// Route metrics of mn's default routes: Wi-Fi is preferred when both
// links are up.
const (
	WifiMetric = 100
	CellMetric = 200
)
