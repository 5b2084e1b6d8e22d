package mobile

import (
	"fmt"
	"log/slog"

	"github.com/homeip/homeip/client"
)

// Options tunes Start. A nil *Options, like the zero value, means the
// defaults.
type Options struct {
	// FullTunnel sends all traffic through the tunnel; pass the same
	// value as to TunnelSettings.
	FullTunnel bool
	// Prefer orders network kinds, most preferred first, as a
	// comma-separated list ("wifi,cellular"); empty means wired, Wi-Fi,
	// cellular. SetPreferred changes it while the node runs.
	Prefer string
	// ListenPort is the local UDP port of the tunnel's socket; 0 picks a
	// random one.
	ListenPort int
	// LogLevel is the lowest slog level sent to Callbacks.Log: -4 debug,
	// 0 info (the default), 4 warn, 8 error.
	LogLevel int
}

// checked validates o and returns the parsed preference.
func (o Options) checked() (client.Preference, error) {
	if o.ListenPort < 0 || o.ListenPort > 65535 {
		return nil, coded(CodeInvalid, fmt.Errorf("listen port %d out of range 0-65535", o.ListenPort))
	}
	if o.LogLevel < int(slog.LevelDebug) || o.LogLevel > int(slog.LevelError)+4 {
		return nil, coded(CodeInvalid, fmt.Errorf("log level %d: want -4 (debug) to 8 (error)", o.LogLevel))
	}
	if o.Prefer == "" {
		return client.DefaultPreference, nil
	}
	p, err := client.ParsePreference(o.Prefer)
	if err != nil {
		return nil, coded(CodeInvalid, err)
	}
	return p, nil
}
