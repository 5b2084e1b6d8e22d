package tunnel

import (
	"net/netip"
	"testing"
)

// TestKernelPathMTUFamilies: the kernel's path MTU is read toward IPv4
// and IPv6 destinations alike, with a source of either family or none (a
// source of the other family is ignored, not a panic).
func TestKernelPathMTUFamilies(t *testing.T) {
	for _, tc := range []struct {
		dst string
		src netip.Addr
	}{
		{"127.0.0.1:9", netip.Addr{}},
		{"127.0.0.1:9", netip.MustParseAddr("127.0.0.1")},
		{"127.0.0.1:9", netip.MustParseAddr("::1")},
		{"[::1]:9", netip.Addr{}},
		{"[::1]:9", netip.MustParseAddr("::1")},
		{"[::1]:9", netip.MustParseAddr("127.0.0.1")},
		{"[::ffff:127.0.0.1]:9", netip.Addr{}},
	} {
		dst := netip.MustParseAddrPort(tc.dst)
		mtu, err := kernelPathMTU(nil, dst, tc.src, 0)
		if err != nil {
			if dst.Addr().Is6() && !dst.Addr().Is4In6() {
				t.Logf("%v from %v: %v (no IPv6 loopback here?)", dst, tc.src, err)
				continue
			}
			t.Fatalf("%v from %v: %v", dst, tc.src, err)
		}
		if mtu < 1280 {
			t.Errorf("%v from %v: path MTU %d", dst, tc.src, mtu)
		}
	}
}
