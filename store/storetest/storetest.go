// Package storetest is the behavioural test suite every store.Store
// implementation must pass: Run(t, open) exercises devices, tokens,
// leases, reservations, quarantine, concurrency and Close against fresh
// stores made by open. The bbolt store runs it in its tests; an etcd
// store will run the same.
package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homeip/homeip/store"
)

// Opener returns a fresh, empty store. The suite closes it (Close must be
// idempotent, so an opener may also register its own t.Cleanup).
type Opener func(t *testing.T) store.Store

// Run runs the whole suite as subtests.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Devices", testDevices},
		{"DeviceValidation", testDeviceValidation},
		{"RenameRevoke", testRenameRevoke},
		{"TokensEndWithEnrolment", testTokensEndWithEnrolment},
		{"Tokens", testTokens},
		{"TokenRedeemedOnce", testTokenRedeemedOnce},
		{"Leases", testLeases},
		{"LeaseConflicts", testLeaseConflicts},
		{"Reservations", testReservations},
		{"DeleteDevice", testDeleteDevice},
		{"Quarantine", testQuarantine},
		{"ConcurrentCommits", testConcurrentCommits},
		{"Walk", testWalk},
		{"WalkGrouped", testWalkGrouped},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

// t0 is the suite's fixed clock reading.
var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Key returns a deterministic ed25519 public key for a seed string.
func Key(seed string) []byte {
	s := sha256.Sum256([]byte("storetest identity " + seed))
	return ed25519.NewKeyFromSeed(s[:]).Public().(ed25519.PublicKey)
}

// WGKey returns a deterministic non-zero WireGuard key for a seed string.
func WGKey(seed string) [32]byte { return sha256.Sum256([]byte("storetest wg " + seed)) }

// NewDevice returns a valid, unenrolled device record.
func NewDevice(id string) store.Device {
	return store.Device{ID: id, Name: "name-" + id, Created: t0}
}

func mustCreate(t *testing.T, s store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.CreateDevice(context.Background(), NewDevice(id)); err != nil {
			t.Fatalf("CreateDevice(%q): %v", id, err)
		}
	}
}

func wantIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

var ctx = context.Background()

func testDevices(t *testing.T, s store.Store) {
	d := NewDevice("dev-a")
	d.IdentityKey = Key("a")
	d.WGKey = WGKey("a")
	ok(t, "create", s.CreateDevice(ctx, d))
	got, err := s.Device(ctx, "dev-a")
	ok(t, "Device", err)
	if !got.Equal(d) {
		t.Fatalf("Device = %+v, want %+v", got, d)
	}
	for name, lookup := range map[string]func() (store.Device, error){
		"by name":         func() (store.Device, error) { return s.DeviceByName(ctx, d.Name) },
		"by identity key": func() (store.Device, error) { return s.DeviceByIdentityKey(ctx, d.IdentityKey) },
		"by WG key":       func() (store.Device, error) { return s.DeviceByWGKey(ctx, d.WGKey) },
	} {
		got, err := lookup()
		ok(t, name, err)
		if got.ID != d.ID {
			t.Fatalf("%s: got %q", name, got.ID)
		}
	}
	_, err = s.Device(ctx, "nope")
	wantIs(t, "unknown id", err, store.ErrNotFound)
	_, err = s.DeviceByName(ctx, "nope")
	wantIs(t, "unknown name", err, store.ErrNotFound)
	_, err = s.DeviceByIdentityKey(ctx, Key("nope"))
	wantIs(t, "unknown identity key", err, store.ErrNotFound)
	_, err = s.DeviceByWGKey(ctx, WGKey("nope"))
	wantIs(t, "unknown WG key", err, store.ErrNotFound)
	_, err = s.DeviceByWGKey(ctx, [32]byte{})
	wantIs(t, "zero WG key", err, store.ErrNotFound)

	dups := map[string]store.Device{
		"same id":           {ID: "dev-a", Name: "other", Created: t0},
		"same name":         {ID: "dev-b", Name: d.Name, Created: t0},
		"same identity key": {ID: "dev-b", Name: "b", IdentityKey: d.IdentityKey, Created: t0},
		"same WG key":       {ID: "dev-b", Name: "b", WGKey: d.WGKey, Created: t0},
	}
	for what, dd := range dups {
		wantIs(t, what, s.CreateDevice(ctx, dd), store.ErrExists)
	}
	mustCreate(t, s, "dev-c", "dev-b")
	list, err := s.Devices(ctx)
	ok(t, "Devices", err)
	var ids []string
	for _, d := range list {
		ids = append(ids, d.ID)
	}
	if want := []string{"dev-a", "dev-b", "dev-c"}; !slices.Equal(ids, want) {
		t.Fatalf("Devices = %v, want %v", ids, want)
	}
}

func testDeviceValidation(t *testing.T, s store.Store) {
	bad := map[string]store.Device{
		"empty id":       {Name: "x", Created: t0},
		"NUL in id":      {ID: "a\x00b", Name: "x", Created: t0},
		"long id":        {ID: string(make([]byte, store.MaxIDLen+1)), Name: "x"},
		"empty name":     {ID: "x", Created: t0},
		"bad UTF-8 name": {ID: "x", Name: "\xff", Created: t0},
		"short key":      {ID: "x", Name: "x", IdentityKey: []byte{1, 2, 3}},
	}
	for what, d := range bad {
		wantIs(t, what, s.CreateDevice(ctx, d), store.ErrInvalid)
	}
	list, err := s.Devices(ctx)
	ok(t, "Devices", err)
	if len(list) != 0 {
		t.Fatalf("invalid devices were stored: %+v", list)
	}
}

func testRenameRevoke(t *testing.T, s store.Store) {
	mustCreate(t, s, "a", "b")
	ok(t, "rename", s.RenameDevice(ctx, "a", "laptop"))
	ok(t, "rename to same", s.RenameDevice(ctx, "a", "laptop"))
	wantIs(t, "rename to taken", s.RenameDevice(ctx, "b", "laptop"), store.ErrExists)
	wantIs(t, "rename unknown", s.RenameDevice(ctx, "zz", "x"), store.ErrNotFound)
	wantIs(t, "rename empty", s.RenameDevice(ctx, "a", ""), store.ErrInvalid)
	if d, err := s.DeviceByName(ctx, "laptop"); err != nil || d.ID != "a" {
		t.Fatalf("DeviceByName(laptop) = %v, %v", d.ID, err)
	}
	_, err := s.DeviceByName(ctx, "name-a")
	wantIs(t, "old name", err, store.ErrNotFound)
	ok(t, "reuse old name", s.RenameDevice(ctx, "b", "name-a"))

	ok(t, "revoke", s.RevokeDevice(ctx, "a", t0.Add(time.Hour)))
	ok(t, "revoke again", s.RevokeDevice(ctx, "a", t0.Add(2*time.Hour)))
	d, err := s.Device(ctx, "a")
	ok(t, "Device", err)
	if d.Active() || !d.Revoked.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revoked = %v, want first revocation time", d.Revoked)
	}
	wantIs(t, "revoke unknown", s.RevokeDevice(ctx, "zz", t0), store.ErrNotFound)
}

func addToken(t *testing.T, s store.Store, id string, ttl time.Duration) string {
	t.Helper()
	secret, tok, err := store.NewToken(id, t0, ttl)
	ok(t, "NewToken", err)
	ok(t, "AddToken", s.AddToken(ctx, tok))
	return secret
}

func enrolment(seed string) store.Enrolment {
	return store.Enrolment{IdentityKey: Key(seed), WGKey: WGKey(seed)}
}

func testTokens(t *testing.T, s store.Store) {
	mustCreate(t, s, "a", "b", "c")
	secret := addToken(t, s, "a", time.Hour)
	h := store.HashToken(secret)

	_, err := s.RedeemToken(ctx, store.HashToken("wrong"), t0, enrolment("a"))
	wantIs(t, "unknown token", err, store.ErrTokenInvalid)
	_, err = s.RedeemToken(ctx, h, t0, store.Enrolment{IdentityKey: []byte{1}})
	wantIs(t, "bad enrolment", err, store.ErrInvalid)

	d, err := s.RedeemToken(ctx, h, t0.Add(time.Minute), enrolment("a"))
	ok(t, "redeem", err)
	if !d.IsEnrolled() || string(d.IdentityKey) != string(Key("a")) || d.WGKey != WGKey("a") {
		t.Fatalf("redeemed device = %+v", d)
	}
	if got, err := s.DeviceByIdentityKey(ctx, Key("a")); err != nil || got.ID != "a" {
		t.Fatalf("lookup after enrolment: %v %v", got.ID, err)
	}
	_, err = s.RedeemToken(ctx, h, t0.Add(2*time.Minute), enrolment("a"))
	wantIs(t, "second redemption", err, store.ErrTokenInvalid)

	// Expired.
	h2 := store.HashToken(addToken(t, s, "b", time.Hour))
	_, err = s.RedeemToken(ctx, h2, t0.Add(time.Hour), enrolment("b"))
	wantIs(t, "expired token", err, store.ErrTokenInvalid)

	// Keys of another device.
	h3 := store.HashToken(addToken(t, s, "c", time.Hour))
	_, err = s.RedeemToken(ctx, h3, t0, enrolment("a"))
	wantIs(t, "someone else's keys", err, store.ErrExists)
	// The refusal used nothing up.
	_, err = s.RedeemToken(ctx, h3, t0, enrolment("c"))
	ok(t, "redeem after refusal", err)

	// Re-enrolment with new keys keeps the device and drops the old keys.
	h4 := store.HashToken(addToken(t, s, "a", time.Hour))
	d, err = s.RedeemToken(ctx, h4, t0, enrolment("a2"))
	ok(t, "re-enrol", err)
	if d.ID != "a" || d.WGKey != WGKey("a2") {
		t.Fatalf("re-enrolled device = %+v", d)
	}
	_, err = s.DeviceByIdentityKey(ctx, Key("a"))
	wantIs(t, "old identity key", err, store.ErrNotFound)
	_, err = s.DeviceByWGKey(ctx, WGKey("a"))
	wantIs(t, "old WG key", err, store.ErrNotFound)

	// Revoked devices: no new tokens, old ones refused.
	h5 := store.HashToken(addToken(t, s, "b", time.Hour))
	ok(t, "revoke", s.RevokeDevice(ctx, "b", t0))
	_, err = s.RedeemToken(ctx, h5, t0, enrolment("b"))
	wantIs(t, "revoked device", err, store.ErrRevoked)
	_, tok, _ := store.NewToken("b", t0, time.Hour)
	wantIs(t, "token for revoked", s.AddToken(ctx, tok), store.ErrRevoked)
	_, tok, _ = store.NewToken("zz", t0, time.Hour)
	wantIs(t, "token for unknown", s.AddToken(ctx, tok), store.ErrNotFound)
	_, tok, _ = store.NewToken("a", t0, time.Hour)
	ok(t, "add", s.AddToken(ctx, tok))
	wantIs(t, "duplicate token", s.AddToken(ctx, tok), store.ErrExists)
}

// testTokensEndWithEnrolment: redeeming one of a device's tokens ends the
// others.
func testTokensEndWithEnrolment(t *testing.T, s store.Store) {
	mustCreate(t, s, "a")
	h1 := store.HashToken(addToken(t, s, "a", time.Hour))
	h2 := store.HashToken(addToken(t, s, "a", time.Hour))
	h3 := store.HashToken(addToken(t, s, "a", 2*time.Hour))
	_, err := s.RedeemToken(ctx, h2, t0, enrolment("a"))
	ok(t, "redeem", err)
	for _, h := range [][32]byte{h1, h3} {
		_, err = s.RedeemToken(ctx, h, t0, enrolment("a2"))
		wantIs(t, "another token of the enrolled device", err, store.ErrTokenInvalid)
	}
	_, err = s.RedeemToken(ctx, h2, t0, enrolment("a"))
	wantIs(t, "the redeemed token again", err, store.ErrTokenInvalid)
	ts, err := s.Tokens(ctx, "a")
	ok(t, "tokens", err)
	if len(ts) != 1 || ts[0].Hash != h2 || !ts[0].Used.Equal(t0) {
		t.Fatalf("tokens after enrolment = %+v", ts)
	}
	if tk, err := s.Token(ctx, h2); err != nil || tk.DeviceID != "a" || !tk.Used.Equal(t0) {
		t.Fatalf("Token(redeemed) = %+v, %v", tk, err)
	}
	_, err = s.Token(ctx, h1)
	wantIs(t, "Token(ended)", err, store.ErrNotFound)

	// Listing and cancelling.
	h4 := store.HashToken(addToken(t, s, "a", time.Hour))
	h5 := store.HashToken(addToken(t, s, "a", time.Hour))
	ts, err = s.Tokens(ctx, "a")
	ok(t, "tokens", err)
	if len(ts) != 3 {
		t.Fatalf("tokens = %+v", ts)
	}
	n, err := s.CancelTokens(ctx, "a")
	if err != nil || n != 2 {
		t.Fatalf("CancelTokens = %d, %v; want 2", n, err)
	}
	for _, h := range [][32]byte{h4, h5} {
		_, err = s.RedeemToken(ctx, h, t0, enrolment("a2"))
		wantIs(t, "cancelled token", err, store.ErrTokenInvalid)
	}
	if n, err := s.CancelTokens(ctx, "a"); err != nil || n != 0 {
		t.Fatalf("CancelTokens again = %d, %v; want 0", n, err)
	}
	_, err = s.Tokens(ctx, "zz")
	wantIs(t, "tokens of unknown", err, store.ErrNotFound)
	_, err = s.CancelTokens(ctx, "zz")
	wantIs(t, "cancel for unknown", err, store.ErrNotFound)
}

func testTokenRedeemedOnce(t *testing.T, s store.Store) {
	mustCreate(t, s, "a")
	h := store.HashToken(addToken(t, s, "a", time.Hour))
	var wins, invalid atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RedeemToken(ctx, h, t0, enrolment(fmt.Sprint("k", i)))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrTokenInvalid):
				invalid.Add(1)
			default:
				t.Errorf("redeem: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || invalid.Load() != 15 {
		t.Fatalf("%d redemptions succeeded, %d refused; want 1 and 15", wins.Load(), invalid.Load())
	}
}

var (
	a4 = netip.MustParseAddr("10.77.0.10")
	b4 = netip.MustParseAddr("10.77.0.11")
	c4 = netip.MustParseAddr("10.77.0.12")
	a6 = netip.MustParseAddr("fd77::10")
)

func lease(id string, a netip.Addr) store.Lease {
	return store.Lease{DeviceID: id, Addr: a, Created: t0}
}

func addrsOf(ls []store.Lease) []netip.Addr {
	var out []netip.Addr
	for _, l := range ls {
		out = append(out, l.Addr)
	}
	return out
}

func testLeases(t *testing.T, s store.Store) {
	mustCreate(t, s, "a", "b")
	ok(t, "commit v6", s.CommitLease(ctx, lease("a", a6)))
	ok(t, "commit v4", s.CommitLease(ctx, lease("a", a4)))
	ok(t, "commit again", s.CommitLease(ctx, lease("a", a4)))
	ls, err := s.Leases(ctx, "a")
	ok(t, "Leases", err)
	if got := addrsOf(ls); !slices.Equal(got, []netip.Addr{a4, a6}) {
		t.Fatalf("Leases = %v, want [%v %v] (IPv4 first)", got, a4, a6)
	}
	if !ls[0].Created.Equal(t0) || ls[0].DeviceID != "a" {
		t.Fatalf("lease = %+v", ls[0])
	}
	l, err := s.LeaseByAddr(ctx, a6)
	ok(t, "LeaseByAddr", err)
	if l.DeviceID != "a" {
		t.Fatalf("LeaseByAddr = %+v", l)
	}
	_, err = s.LeaseByAddr(ctx, b4)
	wantIs(t, "LeaseByAddr free", err, store.ErrNotFound)
	if ls, err := s.Leases(ctx, "b"); err != nil || len(ls) != 0 {
		t.Fatalf("Leases(b) = %v, %v", ls, err)
	}
	wantIs(t, "second v4", s.CommitLease(ctx, lease("a", b4)), store.ErrHasLease)
	wantIs(t, "unknown device", s.CommitLease(ctx, lease("zz", c4)), store.ErrNotFound)
	wantIs(t, "invalid address", s.CommitLease(ctx, lease("b", netip.Addr{})), store.ErrInvalid)
	wantIs(t, "mapped address", s.CommitLease(ctx, lease("b", netip.MustParseAddr("::ffff:10.77.0.12"))), store.ErrInvalid)

	q, err := s.ReleaseLease(ctx, "a", a4, t0.Add(time.Hour))
	ok(t, "release", err)
	if q.Addr != a4 || q.DeviceID != "a" || !q.Released.Equal(t0.Add(time.Hour)) {
		t.Fatalf("released = %+v", q)
	}
	_, err = s.ReleaseLease(ctx, "a", a4, t0)
	wantIs(t, "release twice", err, store.ErrNotFound)
	_, err = s.ReleaseLease(ctx, "b", a6, t0)
	wantIs(t, "release someone else's", err, store.ErrNotFound)
	ok(t, "commit after release", s.CommitLease(ctx, lease("a", b4)))

	ok(t, "revoke", s.RevokeDevice(ctx, "b", t0))
	wantIs(t, "revoked device", s.CommitLease(ctx, lease("b", c4)), store.ErrRevoked)
	// A revoked device keeps its leases but is refused even the ones it
	// holds: nothing leases to it any more.
	ok(t, "revoke a", s.RevokeDevice(ctx, "a", t0))
	wantIs(t, "revoked device's own lease", s.CommitLease(ctx, lease("a", b4)), store.ErrRevoked)
	if ls, err := s.Leases(ctx, "a"); err != nil || len(ls) != 2 {
		t.Fatalf("revoked device's leases = %v, %v", ls, err)
	}
}

func testLeaseConflicts(t *testing.T, s store.Store) {
	mustCreate(t, s, "a", "b")
	ok(t, "commit", s.CommitLease(ctx, lease("a", a4)))
	err := s.CommitLease(ctx, lease("b", a4))
	wantIs(t, "taken", err, store.ErrAddrInUse)
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Holder != "a" || ce.Addr != a4 || ce.Reserved {
		t.Fatalf("conflict error = %#v", err)
	}
	ls, _ := s.Leases(ctx, "b")
	if len(ls) != 0 {
		t.Fatalf("refused commit left a lease: %v", ls)
	}
	// Several leases commit all or nothing.
	err = s.CommitLease(ctx, lease("b", a6), lease("b", a4))
	if !errors.As(err, &ce) || ce.Addr != a4 {
		t.Fatalf("multi-lease commit with a conflict: %v", err)
	}
	if ls, _ := s.Leases(ctx, "b"); len(ls) != 0 {
		t.Fatalf("refused multi-lease commit left %v", ls)
	}
	wantIs(t, "two IPv4 at once", s.CommitLease(ctx, lease("b", b4), lease("b", c4)), store.ErrHasLease)
	ok(t, "multi-lease commit", s.CommitLease(ctx, lease("b", a6), lease("b", b4)))
	if ls, _ := s.Leases(ctx, "b"); len(ls) != 2 {
		t.Fatalf("multi-lease commit stored %v", ls)
	}
	ok(t, "empty commit", s.CommitLease(ctx))
}

func testReservations(t *testing.T, s store.Store) {
	mustCreate(t, s, "a", "b")
	ok(t, "lease", s.CommitLease(ctx, lease("a", a4)))
	_, err := s.Reserve(ctx, store.Reservation{DeviceID: "b", Addr: a4, Created: t0})
	wantIs(t, "reserve leased", err, store.ErrAddrInUse)

	// Reserving moves a's lease from a4 to c4; a4 goes to quarantine.
	moved, err := s.Reserve(ctx, store.Reservation{DeviceID: "a", Addr: c4, Created: t0.Add(time.Minute)})
	ok(t, "reserve", err)
	if len(moved) != 1 || moved[0].Addr != a4 || moved[0].DeviceID != "a" {
		t.Fatalf("moved = %+v", moved)
	}
	ls, _ := s.Leases(ctx, "a")
	if got := addrsOf(ls); !slices.Equal(got, []netip.Addr{c4}) {
		t.Fatalf("after reserve, leases = %v", got)
	}
	rs, err := s.Reservations(ctx, "a")
	ok(t, "Reservations", err)
	if len(rs) != 1 || rs[0].Addr != c4 {
		t.Fatalf("Reservations = %+v", rs)
	}
	// b cannot lease or reserve a's reserved address.
	mustCreate(t, s, "c")
	ok(t, "reserve for unleased", func() error {
		_, err := s.Reserve(ctx, store.Reservation{DeviceID: "c", Addr: b4, Created: t0})
		return err
	}())
	err = s.CommitLease(ctx, lease("b", b4))
	var ce *store.ConflictError
	if !errors.As(err, &ce) || !ce.Reserved || ce.Holder != "c" {
		t.Fatalf("leasing reserved address: %v", err)
	}
	_, err = s.Reserve(ctx, store.Reservation{DeviceID: "b", Addr: b4, Created: t0})
	if !errors.As(err, &ce) || !ce.Reserved {
		t.Fatalf("reserving reserved address: %v", err)
	}
	// c may lease its own reservation.
	ok(t, "lease own reservation", s.CommitLease(ctx, lease("c", b4)))
	// Re-reserving replaces the old reservation of the family.
	_, err = s.Reserve(ctx, store.Reservation{DeviceID: "c", Addr: a4, Created: t0.Add(2 * time.Minute)})
	ok(t, "re-reserve", err)
	rs, _ = s.Reservations(ctx, "c")
	if len(rs) != 1 || rs[0].Addr != a4 {
		t.Fatalf("after re-reserve: %+v", rs)
	}
	ok(t, "unreserve", s.Unreserve(ctx, "c", a4))
	wantIs(t, "unreserve twice", s.Unreserve(ctx, "c", a4), store.ErrNotFound)
	ls, _ = s.Leases(ctx, "c")
	if got := addrsOf(ls); !slices.Equal(got, []netip.Addr{a4}) {
		t.Fatalf("unreserve must keep the lease: %v", got)
	}
	_, err = s.Reserve(ctx, store.Reservation{DeviceID: "zz", Addr: a6, Created: t0})
	wantIs(t, "reserve for unknown", err, store.ErrNotFound)
}

func testDeleteDevice(t *testing.T, s store.Store) {
	d := NewDevice("a")
	ok(t, "create", s.CreateDevice(ctx, d))
	h := store.HashToken(addToken(t, s, "a", time.Hour))
	_, err := s.RedeemToken(ctx, h, t0, enrolment("a"))
	ok(t, "redeem", err)
	ok(t, "lease", s.CommitLease(ctx, lease("a", a4)))
	ok(t, "lease", s.CommitLease(ctx, lease("a", a6)))
	_, err = s.Reserve(ctx, store.Reservation{DeviceID: "a", Addr: b4, Created: t0})
	ok(t, "reserve", err) // moves the IPv4 lease to b4
	pending := store.HashToken(addToken(t, s, "a", time.Hour))

	released, err := s.DeleteDevice(ctx, "a", t0.Add(time.Hour))
	ok(t, "delete", err)
	var got []netip.Addr
	for _, q := range released {
		got = append(got, q.Addr)
		if q.DeviceID != "a" || !q.Released.Equal(t0.Add(time.Hour)) {
			t.Fatalf("released = %+v", q)
		}
	}
	slices.SortFunc(got, netip.Addr.Compare)
	if want := []netip.Addr{b4, a6}; !slices.Equal(got, want) {
		t.Fatalf("released %v, want %v", got, want)
	}
	_, err = s.Device(ctx, "a")
	wantIs(t, "deleted device", err, store.ErrNotFound)
	_, err = s.DeviceByIdentityKey(ctx, Key("a"))
	wantIs(t, "deleted identity key", err, store.ErrNotFound)
	_, err = s.RedeemToken(ctx, pending, t0, enrolment("x"))
	wantIs(t, "token of deleted device", err, store.ErrTokenInvalid)
	if rs, _ := s.Reservations(ctx, "a"); len(rs) != 0 {
		t.Fatalf("reservations survive delete: %v", rs)
	}
	_, err = s.DeleteDevice(ctx, "a", t0)
	wantIs(t, "delete twice", err, store.ErrNotFound)
	// Name, keys and addresses are free again.
	d.IdentityKey, d.WGKey = Key("a"), WGKey("a")
	ok(t, "recreate", s.CreateDevice(ctx, d))
	ok(t, "lease freed address", s.CommitLease(ctx, lease("a", b4)))
}

func quarantined(t *testing.T, s store.Store) map[netip.Addr]store.Quarantined {
	t.Helper()
	out := map[netip.Addr]store.Quarantined{}
	ok(t, "Walk", s.Walk(ctx, store.Visitor{Quarantined: func(q store.Quarantined) error {
		out[q.Addr] = q
		return nil
	}}))
	return out
}

func testQuarantine(t *testing.T, s store.Store) {
	mustCreate(t, s, "a", "b")
	ok(t, "lease", s.CommitLease(ctx, lease("a", a4)))
	ok(t, "lease", s.CommitLease(ctx, lease("a", a6)))
	_, err := s.ReleaseLease(ctx, "a", a4, t0)
	ok(t, "release", err)
	_, err = s.ReleaseLease(ctx, "a", a6, t0.Add(time.Hour))
	ok(t, "release", err)
	q := quarantined(t, s)
	if len(q) != 2 || q[a4].DeviceID != "a" || !q[a6].Released.Equal(t0.Add(time.Hour)) {
		t.Fatalf("quarantine = %+v", q)
	}
	// Committing a quarantined address (the pool decided) clears it.
	ok(t, "lease quarantined", s.CommitLease(ctx, lease("b", a4)))
	if q := quarantined(t, s); len(q) != 1 {
		t.Fatalf("quarantine after commit = %+v", q)
	}
	n, err := s.PurgeQuarantine(ctx, t0.Add(time.Hour))
	ok(t, "purge", err)
	if n != 0 {
		t.Fatalf("purged %d records released at the cut-off, want 0", n)
	}
	n, err = s.PurgeQuarantine(ctx, t0.Add(time.Hour+1))
	ok(t, "purge", err)
	if n != 1 || len(quarantined(t, s)) != 0 {
		t.Fatalf("purged %d, left %v", n, quarantined(t, s))
	}
}

// testConcurrentCommits has 64 callers race for 32 addresses: every
// address ends up with exactly one holder, every success is stored, every
// loser got a conflict naming the winner.
func testConcurrentCommits(t *testing.T, s store.Store) {
	const callers, addrs = 64, 32
	for i := range callers {
		mustCreate(t, s, fmt.Sprint("d", i))
	}
	won := make([]netip.Addr, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("d", i)
			for j := range addrs {
				a := netip.AddrFrom4([4]byte{10, 99, 0, byte((i + j) % addrs)})
				err := s.CommitLease(ctx, lease(id, a))
				if err == nil {
					won[i] = a
					return
				}
				if !errors.Is(err, store.ErrAddrInUse) {
					t.Errorf("commit: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	holders := map[netip.Addr]string{}
	for i, a := range won {
		if !a.IsValid() {
			continue
		}
		id := fmt.Sprint("d", i)
		if h, dup := holders[a]; dup {
			t.Fatalf("%v won by %s and %s", a, h, id)
		}
		holders[a] = id
		l, err := s.LeaseByAddr(ctx, a)
		if err != nil || l.DeviceID != id {
			t.Fatalf("LeaseByAddr(%v) = %+v, %v; want %s", a, l, err, id)
		}
	}
	if len(holders) != addrs {
		t.Fatalf("%d addresses leased, want all %d", len(holders), addrs)
	}
}

func testWalk(t *testing.T, s store.Store) {
	mustCreate(t, s, "a", "b")
	ok(t, "lease", s.CommitLease(ctx, lease("a", a4)))
	ok(t, "lease", s.CommitLease(ctx, lease("b", b4)))
	_, err := s.Reserve(ctx, store.Reservation{DeviceID: "b", Addr: a6, Created: t0})
	ok(t, "reserve", err)
	_, err = s.ReleaseLease(ctx, "a", a4, t0)
	ok(t, "release", err)
	var devs, leases, resv, quar int
	ok(t, "walk", s.Walk(ctx, store.Visitor{
		Device:      func(store.Device) error { devs++; return nil },
		Lease:       func(store.Lease) error { leases++; return nil },
		Reservation: func(store.Reservation) error { resv++; return nil },
		Quarantined: func(store.Quarantined) error { quar++; return nil },
	}))
	if devs != 2 || leases != 1 || resv != 1 || quar != 1 {
		t.Fatalf("walk saw %d devices, %d leases, %d reservations, %d quarantined", devs, leases, resv, quar)
	}
	ok(t, "token", s.AddToken(ctx, func() store.Token { _, tok, _ := store.NewToken("a", t0, time.Hour); return tok }()))
	c, err := s.Counts(ctx)
	ok(t, "Counts", err)
	if want := (store.Counts{Devices: 2, Leases: 1, Reservations: 1, Quarantined: 1, Tokens: 1}); c != want {
		t.Fatalf("Counts = %+v, want %+v", c, want)
	}
	stop := errors.New("stop")
	n := 0
	err = s.Walk(ctx, store.Visitor{Device: func(store.Device) error { n++; return stop }})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("walk stop: %v after %d", err, n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Walk(cctx, store.Visitor{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("walk with cancelled context: %v", err)
	}
}

func testClose(t *testing.T, s store.Store) {
	mustCreate(t, s, "a")
	ok(t, "close", s.Close())
	ok(t, "close again", s.Close())
	_, err := s.Device(ctx, "a")
	wantIs(t, "Device after close", err, net.ErrClosed)
	wantIs(t, "CreateDevice after close", s.CreateDevice(ctx, NewDevice("b")), net.ErrClosed)
	wantIs(t, "CommitLease after close", s.CommitLease(ctx, lease("a", a4)), net.ErrClosed)
}
