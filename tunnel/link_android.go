package tunnel

import (
	"errors"
	"fmt"
)

// errNoLinkConfig is returned when New is asked to create a TUN on
// Android: there the app creates it with VpnService.Builder and hands the
// descriptor in (Config.TUNFD).
var errNoLinkConfig = errors.New("tunnel: on Android the TUN comes from VpnService.Builder (Config.TUNFD); creating and configuring one is not supported")

// configureLink fails on Android; see errNoLinkConfig.
func configureLink(_ *NetlinkHandle, name string, _ LinkConfig) error {
	return fmt.Errorf("tunnel: configuring %s: %w", name, errNoLinkConfig)
}
