package etcdstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/homeip/homeip/store"
)

// recordVersion is the "v" field of every record. A schema change that
// changes a record's layout bumps it (and SchemaVersion).
const recordVersion = 1

// deviceRecord is the JSON form of a store.Device.
type deviceRecord struct {
	V        int       `json:"v"`
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	IKey     []byte    `json:"ikey,omitempty"`
	WGKey    []byte    `json:"wgkey,omitempty"`
	Created  time.Time `json:"created,omitzero"`
	Enrolled time.Time `json:"enrolled,omitzero"`
	Revoked  time.Time `json:"revoked,omitzero"`
}

// holderRecord is the JSON form of a lease, reservation or quarantine
// record: the device and one time (the address is the key).
type holderRecord struct {
	V   int       `json:"v"`
	Dev string    `json:"dev"`
	At  time.Time `json:"at,omitzero"`
}

// tokenRecord is the JSON form of a store.Token (the hash is the key).
type tokenRecord struct {
	V       int       `json:"v"`
	Dev     string    `json:"dev"`
	Created time.Time `json:"created,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
	Used    time.Time `json:"used,omitzero"`
}

// utc drops the location and monotonic reading, so records are written in
// one form.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// checkTime refuses times that JSON (RFC 3339) cannot carry.
func checkTime(what string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: %s time %v out of range", store.ErrInvalid, what, t)
	}
	return nil
}

// checkTimes checks decoded times: a record read must be writable again.
func checkTimes(ts ...time.Time) error {
	for _, t := range ts {
		if err := checkTime("record", t); err != nil {
			return err
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only times out of range fail, and every time is checked
		// before it gets here, whether from a caller or a decoded
		// record.
		panic(fmt.Sprintf("etcdstore: encoding %T: %v", v, err))
	}
	return b
}

// decodeStrict decodes one JSON record: no unknown field, nothing after
// it, the version this package writes.
func decodeStrict(what string, b []byte, v any, version func() int) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	err := d.Decode(v)
	if err == nil {
		if _, e := d.Token(); !errors.Is(e, io.EOF) {
			err = errors.New("trailing data")
		}
	}
	if err == nil && version() != recordVersion {
		err = fmt.Errorf("record version %d, want %d", version(), recordVersion)
	}
	if err != nil {
		return fmt.Errorf("etcdstore: decoding %s: %w: %v", what, store.ErrCorrupt, err)
	}
	return nil
}

func encodeDevice(d store.Device) []byte {
	r := deviceRecord{V: recordVersion, ID: d.ID, Name: d.Name, IKey: d.IdentityKey,
		Created: utc(d.Created), Enrolled: utc(d.Enrolled), Revoked: utc(d.Revoked)}
	if d.WGKey != ([32]byte{}) {
		r.WGKey = d.WGKey[:]
	}
	return mustJSON(r)
}

func decodeDevice(b []byte) (store.Device, error) {
	var r deviceRecord
	if err := decodeStrict("device", b, &r, func() int { return r.V }); err != nil {
		return store.Device{}, err
	}
	d := store.Device{ID: r.ID, Name: r.Name, Created: r.Created, Enrolled: r.Enrolled, Revoked: r.Revoked}
	if len(r.IKey) > 0 {
		d.IdentityKey = r.IKey
	}
	switch len(r.WGKey) {
	case 0:
	case 32:
		d.WGKey = [32]byte(r.WGKey)
	default:
		return store.Device{}, fmt.Errorf("etcdstore: decoding device %q: %w: WireGuard key of %d bytes", r.ID, store.ErrCorrupt, len(r.WGKey))
	}
	if err := d.Validate(); err != nil {
		return store.Device{}, fmt.Errorf("etcdstore: decoding device: %w: %v", store.ErrCorrupt, err)
	}
	if err := checkTimes(r.Created, r.Enrolled, r.Revoked); err != nil {
		return store.Device{}, fmt.Errorf("etcdstore: decoding device %q: %w: %v", r.ID, store.ErrCorrupt, err)
	}
	return d, nil
}

func encodeHolder(id string, at time.Time) []byte {
	return mustJSON(holderRecord{V: recordVersion, Dev: id, At: utc(at)})
}

func decodeHolder(what string, b []byte) (string, time.Time, error) {
	var r holderRecord
	if err := decodeStrict(what, b, &r, func() int { return r.V }); err != nil {
		return "", time.Time{}, err
	}
	if err := store.ValidateID(r.Dev); err != nil {
		return "", time.Time{}, fmt.Errorf("etcdstore: decoding %s: %w: %v", what, store.ErrCorrupt, err)
	}
	if err := checkTimes(r.At); err != nil {
		return "", time.Time{}, fmt.Errorf("etcdstore: decoding %s: %w: %v", what, store.ErrCorrupt, err)
	}
	return r.Dev, r.At, nil
}

func encodeToken(t store.Token) []byte {
	return mustJSON(tokenRecord{V: recordVersion, Dev: t.DeviceID, Created: utc(t.Created), Expires: utc(t.Expires), Used: utc(t.Used)})
}

func decodeToken(hash [32]byte, b []byte) (store.Token, error) {
	var r tokenRecord
	if err := decodeStrict("token", b, &r, func() int { return r.V }); err != nil {
		return store.Token{}, err
	}
	if err := store.ValidateID(r.Dev); err != nil {
		return store.Token{}, fmt.Errorf("etcdstore: decoding token: %w: %v", store.ErrCorrupt, err)
	}
	if err := checkTimes(r.Created, r.Expires, r.Used); err != nil {
		return store.Token{}, fmt.Errorf("etcdstore: decoding token: %w: %v", store.ErrCorrupt, err)
	}
	return store.Token{Hash: hash, DeviceID: r.Dev, Created: r.Created, Expires: r.Expires, Used: r.Used}, nil
}

// parseAddr decodes an address written in a key; it must be in the
// canonical form addrText writes.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || store.ValidAddr(a) != nil || a.String() != s {
		return netip.Addr{}, fmt.Errorf("etcdstore: address key %q: %w", s, store.ErrCorrupt)
	}
	return a, nil
}
