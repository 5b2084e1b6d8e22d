package client

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// bindToDevice makes the probe socket leave through iface, like the live
// path, whatever the routing table says about the home agent meanwhile.
func bindToDevice(fd int, iface string) error {
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface); err != nil {
		return fmt.Errorf("client: binding the idle probe socket to %s: %w", iface, err)
	}
	return nil
}
