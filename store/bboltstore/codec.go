package bboltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/homeip/homeip/store"
)

// recordVersion is the first byte of every record value. A schema
// migration that changes a layout bumps it.
const recordVersion = 1

// maxRecordField bounds any length-prefixed field a decoder accepts.
const maxRecordField = 4096

var errShort = errors.New("truncated")

// enc appends fields to a record.
type enc struct{ b []byte }

func (e *enc) bytes(p []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(p)))
	e.b = append(e.b, p...)
}
func (e *enc) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

// time writes a flag byte (0: zero time) and the Unix nanoseconds.
func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(t.UnixNano()))
}

// dec reads fields of a record; the first error sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *dec) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(errShort)
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) byte() byte {
	p := d.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *dec) bytes() []byte {
	if d.err != nil {
		return nil
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > maxRecordField {
		d.fail(fmt.Errorf("bad length"))
		return nil
	}
	d.b = d.b[k:]
	return d.take(int(n))
}

func (d *dec) str() string {
	p := d.bytes()
	if d.err == nil && !utf8.Valid(p) {
		d.fail(errors.New("invalid UTF-8"))
	}
	return string(p)
}

func (d *dec) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		p := d.take(8)
		if p == nil {
			return time.Time{}
		}
		return time.Unix(0, int64(binary.BigEndian.Uint64(p))).UTC()
	default:
		d.fail(errors.New("bad time flag"))
		return time.Time{}
	}
}

// finish checks the whole record was consumed.
func (d *dec) finish(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return fmt.Errorf("bboltstore: decoding %s: %w: %v", what, store.ErrCorrupt, d.err)
	}
	return nil
}

func newDec(b []byte) *dec {
	d := &dec{b: b}
	if v := d.byte(); d.err == nil && v != recordVersion {
		d.fail(fmt.Errorf("record version %d, want %d", v, recordVersion))
	}
	return d
}

// checkTime refuses times that do not survive the Unix-nanosecond encoding
// (before 1678 or after 2262).
func checkTime(what string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if t.Before(time.Unix(0, math.MinInt64+1)) || t.After(time.Unix(0, math.MaxInt64)) {
		return fmt.Errorf("%w: %s time %v out of range", store.ErrInvalid, what, t)
	}
	return nil
}

// addrKey is the bucket key of an address: 4 or 16 bytes.
func addrKey(a netip.Addr) []byte { return a.AsSlice() }

// keyAddr decodes an address key.
func keyAddr(k []byte) (netip.Addr, error) {
	a, ok := netip.AddrFromSlice(k)
	if !ok || (len(k) != 4 && len(k) != 16) || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("bboltstore: address key %x: %w", k, store.ErrCorrupt)
	}
	return a, nil
}

func encodeDevice(d store.Device) []byte {
	e := enc{b: make([]byte, 0, 96+len(d.ID)+len(d.Name))}
	e.b = append(e.b, recordVersion)
	e.str(d.ID)
	e.str(d.Name)
	e.bytes(d.IdentityKey)
	e.b = append(e.b, d.WGKey[:]...)
	e.time(d.Created)
	e.time(d.Enrolled)
	e.time(d.Revoked)
	return e.b
}

func decodeDevice(b []byte) (store.Device, error) {
	d := newDec(b)
	var dv store.Device
	dv.ID = d.str()
	dv.Name = d.str()
	if k := d.bytes(); len(k) > 0 {
		dv.IdentityKey = append([]byte(nil), k...)
	}
	copy(dv.WGKey[:], d.take(32))
	dv.Created = d.time()
	dv.Enrolled = d.time()
	dv.Revoked = d.time()
	if err := d.finish("device"); err != nil {
		return store.Device{}, err
	}
	if err := dv.Validate(); err != nil {
		return store.Device{}, fmt.Errorf("bboltstore: decoding device: %w: %v", store.ErrCorrupt, err)
	}
	return dv, nil
}

// encodeHolder encodes the value of a lease, reservation or quarantine
// record: the device id and one time.
func encodeHolder(id string, t time.Time) []byte {
	e := enc{b: make([]byte, 0, 12+len(id))}
	e.b = append(e.b, recordVersion)
	e.str(id)
	e.time(t)
	return e.b
}

func decodeHolder(what string, b []byte) (string, time.Time, error) {
	d := newDec(b)
	id := d.str()
	t := d.time()
	if err := d.finish(what); err != nil {
		return "", time.Time{}, err
	}
	if err := store.ValidateID(id); err != nil {
		return "", time.Time{}, fmt.Errorf("bboltstore: decoding %s: %w: %v", what, store.ErrCorrupt, err)
	}
	return id, t, nil
}

func decodeLease(k, v []byte) (store.Lease, error) {
	a, err := keyAddr(k)
	if err != nil {
		return store.Lease{}, err
	}
	id, t, err := decodeHolder("lease", v)
	return store.Lease{DeviceID: id, Addr: a, Created: t}, err
}

func decodeReservation(k, v []byte) (store.Reservation, error) {
	a, err := keyAddr(k)
	if err != nil {
		return store.Reservation{}, err
	}
	id, t, err := decodeHolder("reservation", v)
	return store.Reservation{DeviceID: id, Addr: a, Created: t}, err
}

func decodeQuarantined(k, v []byte) (store.Quarantined, error) {
	a, err := keyAddr(k)
	if err != nil {
		return store.Quarantined{}, err
	}
	id, t, err := decodeHolder("quarantine record", v)
	return store.Quarantined{DeviceID: id, Addr: a, Released: t}, err
}

func encodeToken(t store.Token) []byte {
	e := enc{b: make([]byte, 0, 32+len(t.DeviceID))}
	e.b = append(e.b, recordVersion)
	e.str(t.DeviceID)
	e.time(t.Created)
	e.time(t.Expires)
	e.time(t.Used)
	return e.b
}

func decodeToken(k, v []byte) (store.Token, error) {
	var t store.Token
	if len(k) != len(t.Hash) {
		return store.Token{}, fmt.Errorf("bboltstore: token key of %d bytes: %w", len(k), store.ErrCorrupt)
	}
	copy(t.Hash[:], k)
	d := newDec(v)
	t.DeviceID = d.str()
	t.Created = d.time()
	t.Expires = d.time()
	t.Used = d.time()
	if err := d.finish("token"); err != nil {
		return store.Token{}, err
	}
	if err := store.ValidateID(t.DeviceID); err != nil {
		return store.Token{}, fmt.Errorf("bboltstore: decoding token: %w: %v", store.ErrCorrupt, err)
	}
	return t, nil
}
