package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/homeip/homeip/binding"
)

// FetchConfig learns the device's tunnel configuration (VIPs, routes, DNS,
// MTU) before the tunnel exists: it registers once with the home agent
// over a temporary UDP socket, stores the configuration of the
// RegisterAck in dir as the last configuration (Persisted.Config), and
// deregisters again. A mobile OS needs this: Android's VpnService.Builder
// and iOS's NEPacketTunnelNetworkSettings want the addresses and routes
// before they hand over the TUN, and enrolment does not carry them.
//
// It takes the state directory's lock, so it fails while a node runs on
// dir (which keeps Persisted.Config current itself). Errors are those of
// Enroll: ErrNotEnrolled, ErrFingerprintMismatch, ErrUnreachable,
// ErrRejected (ErrRevoked for a revoked device). opt.Hostname is unused.
func FetchConfig(ctx context.Context, dir *StateDir, opt EnrollOptions) (NetConfig, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "client")
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	st, err := dir.Load()
	if err != nil {
		return NetConfig{}, err
	}
	id, err := dir.IdentityKey(false)
	if err != nil {
		return NetConfig{}, err
	}
	wgPriv, err := dir.WireGuardKey(false)
	if err != nil {
		return NetConfig{}, err
	}
	wgPub, err := wgPriv.PublicKey()
	if err != nil {
		return NetConfig{}, err
	}
	tlsConf, err := clientTLS(id, st.HomeAgent.Fingerprint)
	if err != nil {
		return NetConfig{}, err
	}
	unlock, err := dir.Lock()
	if err != nil {
		return NetConfig{}, err
	}
	defer unlock()
	reg := &binding.Register{DeviceID: st.DeviceID, WGPublicKey: wgPub, Lifetime: 30 * time.Second, Software: "homeip-mobile config fetch"}
	var errs []error
	for _, addr := range st.HomeAgent.Addrs {
		var ra *binding.RegisterAck
		err := oneShot(ctx, addr, tlsConf, timeout, "configuration fetch", log, func(ctx context.Context, s *session) error {
			var err error
			ra, _, err = s.Register(ctx, reg, nil)
			if err != nil {
				return err
			}
			if ra.Status.OK() {
				// The registration was only to learn the configuration.
				if derr := s.Deregister(ctx); derr != nil {
					log.Info("deregistration after the configuration fetch not acknowledged", "err", derr)
				}
			}
			return nil
		})
		if err != nil {
			log.Warn("configuration fetch failed", "home_agent", addr, "err", err)
			if errors.Is(err, ErrFingerprintMismatch) || ctx.Err() != nil {
				return NetConfig{}, err
			}
			errs = append(errs, err)
			continue
		}
		if !ra.Status.OK() {
			err := fmt.Errorf("%w: registration at %s: %w", ErrRejected, addr, ra.Status.Err(""))
			if ra.Status == binding.StatusRevoked {
				err = fmt.Errorf("%w: %w", ErrRevoked, err)
			}
			return NetConfig{}, err
		}
		cfg := configFromAck(ra)
		st.Config = &cfg
		if err := dir.Save(st); err != nil {
			return NetConfig{}, err
		}
		log.Info("configuration fetched", "home_agent", addr, "vip4", cfg.VIP4, "vip6", cfg.VIP6)
		return cfg, nil
	}
	return NetConfig{}, fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(errs...))
}
