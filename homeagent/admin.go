package homeagent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/homeagent/lease"
	"github.com/homeip/homeip/pool"
	"github.com/homeip/homeip/store"
	"github.com/homeip/homeip/tunnel"
)

// drainGrace is how long a draining home agent keeps running after it sent
// Switch, so devices can read it and close on their side first.
const drainGrace = time.Second

// revokeGrace is how long a revoked device's control connection stays open
// after the Deregister telling it why, so the message arrives before the
// connection close. The device is refused everything meanwhile.
const revokeGrace = 500 * time.Millisecond

var _ adminapi.Backend = (*Server)(nil)

func (s *Server) adminCtx() context.Context { return context.Background() }

// mapStoreErr turns store and pool errors into the admin API's sentinels.
func mapStoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %v", adminapi.ErrNotFound, err)
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrAddrInUse), errors.Is(err, pool.ErrInUse),
		errors.Is(err, store.ErrRevoked), errors.Is(err, pool.ErrExhausted):
		return fmt.Errorf("%w: %v", adminapi.ErrConflict, err)
	case errors.Is(err, store.ErrInvalid), errors.Is(err, pool.ErrOutside), errors.Is(err, pool.ErrUnusable):
		return fmt.Errorf("%w: %v", adminapi.ErrInvalid, err)
	}
	return err
}

func (s *Server) device(name string) (devInfo, error) {
	d, ok := s.idx.lookupName(name)
	if !ok {
		return devInfo{}, fmt.Errorf("%w: no device %q", adminapi.ErrNotFound, name)
	}
	return d, nil
}

func (s *Server) view(d devInfo) adminapi.Device {
	v := adminapi.Device{ID: d.id, Name: d.name, VIP4: d.vip4, VIP6: d.vip6, Created: d.created,
		Enrolled: d.enrolled, Revoked: d.revoked, Static: d.static, Reserved: s.pool.Reservations(d.id)}
	switch {
	case !d.revoked.IsZero():
		v.State = "revoked"
	case !d.wg.IsZero():
		v.State = "enrolled"
		v.WGKey = d.wg.String()
	default:
		v.State = "pending"
	}
	s.mu.Lock()
	_, v.Connected = s.sessions[d.id]
	s.mu.Unlock()
	_, v.Bound = s.cache.Lookup(d.id)
	return v
}

// AddDevice implements adminapi.Backend: it creates a device and returns its
// one-time enrolment token.
func (s *Server) AddDevice(name string) (adminapi.AddDeviceResult, error) {
	if err := validDeviceName(name); err != nil {
		return adminapi.AddDeviceResult{}, fmt.Errorf("%w: %v", adminapi.ErrInvalid, err)
	}
	if _, ok := s.idx.lookupName(name); ok {
		return adminapi.AddDeviceResult{}, fmt.Errorf("%w: device %q exists", adminapi.ErrConflict, name)
	}
	if len(s.cfg.PublicAddrs) == 0 {
		return adminapi.AddDeviceResult{}, fmt.Errorf("%w: no public address to put in the token: start ha with --public-addr", adminapi.ErrConflict)
	}
	var idb [8]byte
	rand.Read(idb[:])
	now := s.now()
	dev := store.Device{ID: "d" + hex.EncodeToString(idb[:]), Name: name, Created: now}
	if err := s.st.CreateDevice(s.adminCtx(), dev); err != nil {
		return adminapi.AddDeviceResult{}, mapStoreErr(err)
	}
	tok, exp, err := s.newToken(dev.ID, now)
	if err != nil {
		return adminapi.AddDeviceResult{}, err
	}
	d := s.idx.put(dev)
	s.log.Info("device added", "device", name, "id", dev.ID, "token_expires", exp)
	return adminapi.AddDeviceResult{Device: s.view(d), Token: tok, Expires: exp, Warning: s.cfg.PublicAddrsWarning()}, nil
}

// NewToken implements adminapi.Backend: another one-time token for an
// existing, unrevoked device. Redeeming it binds new keys to the device,
// which keeps its id and VIPs.
func (s *Server) NewToken(name string) (adminapi.AddDeviceResult, error) {
	d, err := s.device(name)
	if err != nil {
		return adminapi.AddDeviceResult{}, err
	}
	if !d.revoked.IsZero() {
		return adminapi.AddDeviceResult{}, fmt.Errorf("%w: device %q is revoked", adminapi.ErrConflict, name)
	}
	if len(s.cfg.PublicAddrs) == 0 {
		return adminapi.AddDeviceResult{}, fmt.Errorf("%w: no public address to put in the token: start ha with --public-addr", adminapi.ErrConflict)
	}
	tok, exp, err := s.newToken(d.id, s.now())
	if err != nil {
		return adminapi.AddDeviceResult{}, err
	}
	s.log.Info("enrolment token issued", "device", d.name, "id", d.id, "token_expires", exp)
	return adminapi.AddDeviceResult{Device: s.view(d), Token: tok, Expires: exp, Warning: s.cfg.PublicAddrsWarning()}, nil
}

// Tokens implements adminapi.Backend: the device's enrolment tokens, by
// the hash the store keeps.
func (s *Server) Tokens(name string) ([]adminapi.TokenInfo, error) {
	d, err := s.device(name)
	if err != nil {
		return nil, err
	}
	ts, err := s.st.Tokens(s.adminCtx(), d.id)
	if err != nil {
		return nil, mapStoreErr(err)
	}
	now := s.now()
	out := make([]adminapi.TokenInfo, 0, len(ts))
	for _, t := range ts {
		ti := adminapi.TokenInfo{ID: hex.EncodeToString(t.Hash[:8]), Created: t.Created, Expires: t.Expires, Used: t.Used}
		switch {
		case !t.Used.IsZero():
			ti.State = "used"
		case !now.Before(t.Expires):
			ti.State = "expired"
		default:
			ti.State = "valid"
		}
		out = append(out, ti)
	}
	return out, nil
}

// CancelTokens implements adminapi.Backend: the device's unredeemed
// tokens stop working.
func (s *Server) CancelTokens(name string) (adminapi.CancelTokensResult, error) {
	d, err := s.device(name)
	if err != nil {
		return adminapi.CancelTokensResult{}, err
	}
	n, err := s.st.CancelTokens(s.adminCtx(), d.id)
	if err != nil {
		return adminapi.CancelTokensResult{}, mapStoreErr(err)
	}
	s.log.Info("enrolment tokens cancelled", "device", d.name, "id", d.id, "cancelled", n)
	return adminapi.CancelTokensResult{Cancelled: n}, nil
}

// newToken stores a fresh one-time token for device id and returns its
// printable form.
func (s *Server) newToken(id string, now time.Time) (string, time.Time, error) {
	var secret [binding.SecretSize]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("homeagent: token secret: %w", err)
	}
	addrs := s.cfg.PublicAddrs
	if len(addrs) > binding.MaxAddrs {
		addrs = addrs[:binding.MaxAddrs]
	}
	text, err := binding.EncodeToken(binding.Token{Addrs: addrs, Fingerprint: s.id.Fingerprint, Secret: secret})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("homeagent: encoding token: %w", err)
	}
	exp := now.Add(s.cfg.TokenTTL)
	if err := s.st.AddToken(s.adminCtx(), store.Token{Hash: store.HashToken(string(secret[:])), DeviceID: id, Created: now, Expires: exp}); err != nil {
		return "", time.Time{}, mapStoreErr(err)
	}
	return text, exp, nil
}

// Devices implements adminapi.Backend.
func (s *Server) Devices() ([]adminapi.Device, error) {
	all := s.idx.all()
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	out := make([]adminapi.Device, 0, len(all))
	for _, d := range all {
		out = append(out, s.view(d))
	}
	return out, nil
}

// Device implements adminapi.Backend.
func (s *Server) Device(name string) (adminapi.Device, error) {
	d, err := s.device(name)
	if err != nil {
		return adminapi.Device{}, err
	}
	return s.view(d), nil
}

// RevokeDevice implements adminapi.Backend: the device's peer is removed at
// once, its control connection closed, and it is refused from now on. Its
// leases stay with it, so its addresses are never handed to anyone else.
func (s *Server) RevokeDevice(name string) (adminapi.Device, error) {
	d, err := s.device(name)
	if err != nil {
		return adminapi.Device{}, err
	}
	// The device lock is held from the store's revocation until the peer
	// is gone: a registration of the device either finished before (and
	// its peer is removed here) or checks afterwards and is refused.
	ds := s.devState(d.id)
	ds.mu.Lock()
	now := s.now()
	if err := s.st.RevokeDevice(s.adminCtx(), d.id, now); err != nil {
		ds.mu.Unlock()
		return adminapi.Device{}, mapStoreErr(err)
	}
	dev, err := s.st.Device(s.adminCtx(), d.id)
	if err != nil {
		ds.mu.Unlock()
		return adminapi.Device{}, mapStoreErr(err)
	}
	d = s.idx.put(dev)
	if ev, ok := s.cache.Remove(now, d.id); ok {
		s.applyEventLocked(ds, ev)
	}
	s.removePeerLocked(ds, d, "revoked")
	s.clearPendingLocked(ds)
	s.mu.Lock()
	var victims []*session
	for ss := range s.conns {
		if ss.device == d.id || string(ss.ikey) == d.ikey && d.ikey != "" {
			victims = append(victims, ss)
		}
	}
	delete(s.sessions, d.id)
	s.mu.Unlock()
	ds.mu.Unlock()
	for _, ss := range victims {
		ss.endWith(&binding.Deregister{Status: binding.StatusRevoked, Reason: "revoked by the administrator"}, codeRevoked, revokeGrace)
	}
	s.log.Info("device revoked", "device", d.name, "id", d.id, "connections_closed", len(victims))
	return s.view(d), nil
}

// RenameDevice implements adminapi.Backend.
func (s *Server) RenameDevice(name, newName string) (adminapi.Device, error) {
	if err := validDeviceName(newName); err != nil {
		return adminapi.Device{}, fmt.Errorf("%w: %v", adminapi.ErrInvalid, err)
	}
	d, err := s.device(name)
	if err != nil {
		return adminapi.Device{}, err
	}
	if other, ok := s.idx.lookupName(newName); ok && other.id != d.id {
		return adminapi.Device{}, fmt.Errorf("%w: device %q exists", adminapi.ErrConflict, newName)
	}
	// Under the device lock, so that the record read back cannot be
	// older than a re-enrolment's keys put into the index meanwhile.
	ds := s.devState(d.id)
	ds.mu.Lock()
	if err := s.st.RenameDevice(s.adminCtx(), d.id, newName); err != nil {
		ds.mu.Unlock()
		return adminapi.Device{}, mapStoreErr(err)
	}
	dev, err := s.st.Device(s.adminCtx(), d.id)
	if err != nil {
		ds.mu.Unlock()
		return adminapi.Device{}, mapStoreErr(err)
	}
	d = s.idx.put(dev)
	ds.mu.Unlock()
	s.log.Info("device renamed", "from", name, "to", newName, "id", d.id)
	return s.view(d), nil
}

// ReserveAddr implements adminapi.Backend: it pins the device to addr
// (moving its lease of that family). A connected device is disconnected so
// that it registers again and learns its new address.
func (s *Server) ReserveAddr(name string, addr netip.Addr) (adminapi.Device, error) {
	d, err := s.device(name)
	if err != nil {
		return adminapi.Device{}, err
	}
	if !addr.IsValid() {
		return adminapi.Device{}, fmt.Errorf("%w: no address", adminapi.ErrInvalid)
	}
	ds := s.devState(d.id)
	ds.mu.Lock()
	if err := lease.ReserveVIP(s.adminCtx(), s.st, s.pool, d.id, addr.Unmap(), s.now()); err != nil {
		ds.mu.Unlock()
		return adminapi.Device{}, mapStoreErr(err)
	}
	leases, err := s.st.Leases(s.adminCtx(), d.id)
	if err != nil {
		ds.mu.Unlock()
		return adminapi.Device{}, mapStoreErr(err)
	}
	d, _ = s.idx.setVIPs(d.id, leases)
	if !ds.peer.IsZero() {
		s.setPeerLocked(ds, d, netip.AddrPort{})
	}
	ds.mu.Unlock()
	s.mu.Lock()
	ss := s.sessions[d.id]
	s.mu.Unlock()
	if ss != nil {
		ss.conn.CloseWithError(codeSuperseded, "addresses changed; register again")
	}
	s.log.Info("address reserved", "device", d.name, "addr", addr)
	return s.view(d), nil
}

// Bindings implements adminapi.Backend.
func (s *Server) Bindings() ([]adminapi.Binding, error) {
	stats := map[tunnel.Key]tunnel.PeerStatus{}
	if peers, err := s.dp.Peers(); err == nil {
		for _, p := range peers {
			stats[p.PublicKey] = p
		}
	}
	out := []adminapi.Binding{}
	s.cache.Range(func(b binding.Binding) bool {
		d, ok := s.idx.byIDCopy(b.Device)
		if !ok {
			return true
		}
		ab := adminapi.Binding{Device: d.name, VIP4: d.vip4, VIP6: d.vip6, Primary: b.Primary,
			Sequence: b.Sequence, Expires: b.Expires}
		ab.PathMTU, ab.PathMTUState = s.cfg.MTU, mtuInterface
		if ds := s.devStateIfAny(d.id); ds != nil {
			ds.mu.Lock()
			ab.Since, ab.LastHandover = ds.since, ds.lastHandover
			if ds.mtu.State != "" {
				ab.PathMTUState, ab.PathMTUConfirmed = ds.mtu.State, ds.mtu.Confirmed
			}
			if ds.mtu.Limit != 0 {
				ab.PathMTU = ds.mtu.Limit
			}
			ds.mu.Unlock()
		}
		for _, e := range b.Entries {
			ab.CareOf = append(ab.CareOf, adminapi.CareOf{BID: e.BID, Kind: e.Kind.String(), Priority: e.Priority,
				Observed: e.Observed, Local: e.Local, Primary: e.Primary})
		}
		if ps, ok := stats[d.wg]; ok {
			ab.LastHandshake, ab.RxBytes, ab.TxBytes = ps.LastHandshake, ps.RxBytes, ps.TxBytes
		}
		out = append(out, ab)
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, nil
}

// Pool implements adminapi.Backend.
func (s *Server) Pool() ([]adminapi.PoolPrefix, error) {
	out := []adminapi.PoolPrefix{}
	for _, fam := range s.pool.Utilisation() {
		for _, p := range fam.Prefixes {
			out = append(out, adminapi.PoolPrefix{Prefix: p.Prefix, Capacity: p.Capacity, Leased: p.Leased,
				Reserved: p.Reserved, Quarantined: p.Quarantined})
		}
	}
	return out, nil
}

// Drain implements adminapi.Backend: every connected device is sent a
// Switch naming the configured other home agent (or, without one, a
// Deregister saying the home agent is unavailable), new registrations are
// refused, and the home agent shuts down shortly after.
func (s *Server) Drain() (adminapi.DrainResult, error) {
	var msg binding.Message = &binding.Deregister{Status: binding.StatusUnavailable, Reason: "home agent draining"}
	res := adminapi.DrainResult{}
	if len(s.cfg.DrainTo) > 0 {
		fp, err := binding.ParseFingerprint(s.cfg.DrainFingerprint)
		if err != nil {
			return res, fmt.Errorf("%w: drain fingerprint: %v", adminapi.ErrInvalid, err)
		}
		msg = &binding.Switch{Addrs: s.cfg.DrainTo, Fingerprint: fp, Reason: binding.SwitchShutdown, Deadline: drainGrace}
		res.Target = s.cfg.DrainTo[0].String()
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return adminapi.DrainResult{}, fmt.Errorf("%w: already draining", adminapi.ErrConflict)
	}
	s.draining = true
	var all []*session
	for ss := range s.conns {
		if ss.device != "" { // registered; read under s.mu
			all = append(all, ss)
		}
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.endWith(msg, codeDrained, drainGrace)
		res.Switched++
	}
	s.log.Info("draining", "devices_notified", res.Switched, "target", res.Target)
	close(s.drainDone)
	return res, nil
}

// ExportDevice implements adminapi.Backend: it gives the device fresh keys
// and returns a wg-quick configuration for stock WireGuard apps. The device
// becomes static: its peer is live permanently and roams the WireGuard way.
// A device enrolled by a mobile node cannot be exported (its private key
// lives on the device); exporting a static device again replaces its keys.
func (s *Server) ExportDevice(name string) (adminapi.Export, error) {
	d, err := s.device(name)
	if err != nil {
		return adminapi.Export{}, err
	}
	switch {
	case !d.revoked.IsZero():
		return adminapi.Export{}, fmt.Errorf("%w: device %q is revoked", adminapi.ErrConflict, name)
	case !d.wg.IsZero() && !d.static:
		return adminapi.Export{}, fmt.Errorf("%w: device %q is enrolled by a mobile node; add a new device for wg-quick", adminapi.ErrConflict, name)
	}
	priv, err := tunnel.GeneratePrivateKey()
	if err != nil {
		return adminapi.Export{}, fmt.Errorf("homeagent: %w", err)
	}
	// A static device never speaks the control protocol; its identity key
	// only fills the registry's slot and is thrown away.
	ipub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return adminapi.Export{}, fmt.Errorf("homeagent: %w", err)
	}
	ds := s.devState(d.id)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	now := s.now()
	var secret [binding.SecretSize]byte
	rand.Read(secret[:])
	hash := store.HashToken(string(secret[:]))
	if err := s.st.AddToken(s.adminCtx(), store.Token{Hash: hash, DeviceID: d.id, Created: now, Expires: now.Add(time.Minute)}); err != nil {
		return adminapi.Export{}, mapStoreErr(err)
	}
	dev, err := s.st.RedeemToken(s.adminCtx(), hash, now, store.Enrolment{IdentityKey: ipub, WGKey: priv.PublicKey()})
	if err != nil {
		return adminapi.Export{}, mapStoreErr(err)
	}
	if err := s.static.set(d.id, true); err != nil {
		return adminapi.Export{}, err
	}
	s.removePeerLocked(ds, d, "re-exported")
	leases, err := lease.AssignVIPs(s.adminCtx(), s.st, s.pool, d.id, now)
	if err != nil {
		return adminapi.Export{}, mapStoreErr(err)
	}
	s.idx.put(dev)
	s.idx.setStatic(d.id, true)
	d, _ = s.idx.setVIPs(d.id, leases)
	if err := s.setPeerLocked(ds, d, netip.AddrPort{}); err != nil {
		return adminapi.Export{}, fmt.Errorf("homeagent: adding peer: %w", err)
	}
	s.log.Info("device exported as wg-quick", "device", d.name, "vip4", d.vip4, "vip6", d.vip6)
	return adminapi.Export{Device: s.view(d), Config: s.wgQuickConfig(d, priv)}, nil
}
