package client

import (
	"net/netip"
	"time"

	"github.com/homeip/homeip/tunnel"
)

// beginPathMTU starts the path MTU of a new control connection to the
// home agent at ha (PathMTU.Start): this network's remembered value, or
// the bound of the primary link's interface. The binding updates carry
// it (BindingUpdate.PathMTU), so the home agent starts the downlink there
// too; the caller applies it to the data plane once the connection is
// registered.
func (r *runner) beginPathMTU(ha netip.AddrPort) (int, string) {
	key, bound := "", 0
	if r.hasLink {
		key, bound = NetworkKey(r.primary), InterfaceBound(r.primary.MTU, ha.Addr())
	}
	return r.pmtu.Start(key, bound, time.Now())
}

// onPathMTU takes a result of QUIC's path MTU discovery on the current
// connection (PathMTU.Observe) and applies what changed.
func (r *runner) onPathMTU(u mtuUpdate) {
	mtu, changed := r.pmtu.Observe(u.payload, u.done, time.Now())
	_, src := r.pmtu.Current()
	if u.done {
		r.log.Info("path MTU discovery concluded", "udp_payload", u.payload, "inner_mtu", mtu, "link", r.primary.Name)
	}
	if changed {
		r.applyPathMTU(mtu, src)
	}
}

// tunnelMTU is the MTU of the tunnel interface: the home agent's, or the
// data plane's default.
func (r *runner) tunnelMTU() int {
	if r.st.Config != nil && r.st.Config.MTU > 0 {
		return r.st.Config.MTU
	}
	return tunnel.DefaultMTU
}

// applyPathMTU limits the inner packets sent to the home agent to inner
// bytes (0: the tunnel interface's MTU) and reports it.
func (r *runner) applyPathMTU(inner int, src string) {
	if r.peerKey.IsZero() {
		return
	}
	ifMTU := r.tunnelMTU()
	limit := peerMTU(inner, ifMTU)
	if err := r.dp.SetPeerMTU(r.peerKey, limit); err != nil {
		r.log.Warn("setting the path MTU toward the home agent", "mtu", limit, "err", err)
		return
	}
	shown := limit
	if shown == 0 {
		shown = ifMTU
	}
	r.n.updateStatus(func(s *Status) { s.PathMTU, s.PathMTUSource = shown, src })
	r.log.Debug("path MTU toward the home agent", "mtu", shown, "source", src)
}
