//go:build linux && !android

package tunnel_test

import (
	"testing"

	"github.com/homeip/homeip/tunnel"
	"github.com/homeip/homeip/tunnel/tunneltest"
)

// TestDeviceConformanceLab runs the DataPlane contract, as
// tunneltest.Run checks it on the fake, against the Device in a network
// namespace of its own.
func TestDeviceConformanceLab(t *testing.T) {
	tunneltest.Run(t, tunnel.LabDataPlanes(t))
}
