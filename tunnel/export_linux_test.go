//go:build linux && !android

package tunnel

import (
	"fmt"
	"testing"
)

// LabDataPlanes is for the tests of package tunnel_test, which can use
// tunneltest (package tunnel's own tests cannot: tunneltest imports
// tunnel). It creates a network namespace for t, removed when t ends
// (skipping, or failing with HOMEIP_REQUIRE_LAB=1, where there is no lab),
// and returns a constructor of Devices in it with the default MTU, each
// with a name of its own and closed when the test that asked for it ends.
func LabDataPlanes(t *testing.T) func(t *testing.T) DataPlane {
	requireLab(t)
	ns := labPrefix(t)
	newNetns(t, ns)
	n := 0
	return func(t *testing.T) DataPlane {
		n++
		k, err := GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		return newDeviceIn(t, ns, Config{InterfaceName: fmt.Sprintf("%sc%d", ns, n), PrivateKey: k})
	}
}
