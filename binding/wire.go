package binding

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
	"unicode/utf8"
)

// Errors of the wire format. Decoding errors wrap ErrMalformed; framing
// errors are ErrVersion, ErrFrameTooLarge and ErrUnknownType.
var (
	// ErrMalformed: the bytes do not follow the format in the package doc.
	ErrMalformed = errors.New("binding: malformed message")
	// ErrInvalid: a value cannot be encoded (too long, zoned address, …).
	ErrInvalid = errors.New("binding: value cannot be encoded")
)

// Address families on the wire.
const (
	famNone = 0
	famV4   = 4
	famV6   = 6
)

// encoder appends big-endian fields to b. The first error sticks and
// later writes are no-ops, so message encoders need not check each call.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) raw(v []byte) { e.b = append(e.b, v...) }

// count writes a list length as one byte, failing above max.
func (e *encoder) count(field string, n, max int) {
	if n > max {
		e.fail("%s: %d entries, at most %d", field, n, max)
	}
	e.u8(uint8(n))
}

// str writes a string as a one-byte length and UTF-8 bytes.
func (e *encoder) str(field, s string) {
	if len(s) > maxString {
		e.fail("%s: %d bytes, at most %d", field, len(s), maxString)
		return
	}
	if !utf8.ValidString(s) {
		e.fail("%s: not valid UTF-8", field)
		return
	}
	e.u8(uint8(len(s)))
	e.b = append(e.b, s...)
}

// seconds writes a non-negative duration as whole seconds in 32 bits;
// the sub-second part is dropped.
func (e *encoder) seconds(field string, d time.Duration) {
	if d < 0 || d/time.Second > math.MaxUint32 {
		e.fail("%s: duration %v out of range", field, d)
		return
	}
	e.u32(uint32(d / time.Second))
}

// addr writes a family byte and the address bytes; the zero Addr is
// family 0 with no bytes. Zoned addresses do not cross the wire.
func (e *encoder) addr(field string, a netip.Addr) {
	switch {
	case !a.IsValid():
		e.u8(famNone)
	case a.Zone() != "":
		e.fail("%s: zoned address %v", field, a)
	case a.Is4():
		e.u8(famV4)
		b := a.As4()
		e.raw(b[:])
	default:
		e.u8(famV6)
		b := a.As16()
		e.raw(b[:])
	}
}

// addrPort writes addr then, for a valid address, the port.
func (e *encoder) addrPort(field string, ap netip.AddrPort) {
	e.addr(field, ap.Addr())
	if ap.Addr().IsValid() {
		e.u16(ap.Port())
	}
}

// prefix writes a valid, masked prefix as addr then prefix length.
func (e *encoder) prefix(field string, p netip.Prefix) {
	if !p.IsValid() || p != p.Masked() {
		e.fail("%s: prefix %v is not a valid masked prefix", field, p)
		return
	}
	e.addr(field, p.Addr())
	e.u8(uint8(p.Bits()))
}

// decoder reads big-endian fields from b. The first error sticks; reads
// after it return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) take(n int, field string) []byte {
	if d.err != nil || len(d.b) < n {
		return d.short(field)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// optU16 reads a u16 appended by a later revision of a message: 0 when
// the body ends before it (an older sender).
func (d *decoder) optU16(field string) uint16 {
	if d.err != nil || len(d.b) == 0 {
		return 0
	}
	return d.u16(field)
}

// short records a truncated field (kept out of take so take inlines).
//
//go:noinline
func (d *decoder) short(field string) []byte {
	if d.err == nil {
		d.fail("%s: truncated", field)
	}
	return nil
}

func (d *decoder) u8(field string) uint8 {
	if v := d.take(1, field); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16(field string) uint16 {
	if v := d.take(2, field); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32(field string) uint32 {
	if v := d.take(4, field); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64(field string) uint64 {
	if v := d.take(8, field); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) key(field string, dst *[32]byte) {
	if v := d.take(32, field); v != nil {
		copy(dst[:], v)
	}
}

// count reads a one-byte list length and checks it against max.
func (d *decoder) count(field string, max int) int {
	n := int(d.u8(field))
	if n > max {
		d.fail("%s: %d entries, at most %d", field, n, max)
		return 0
	}
	return n
}

// str reads a string into *dst. When the bytes equal the current value the
// string is kept, so decoding into a reused value does not allocate.
func (d *decoder) str(field string, dst *string) {
	n := int(d.u8(field))
	v := d.take(n, field)
	if d.err != nil {
		return
	}
	if !utf8.Valid(v) {
		d.fail("%s: not valid UTF-8", field)
		return
	}
	if string(v) != *dst {
		*dst = string(v)
	}
}

func (d *decoder) seconds(field string) time.Duration {
	return time.Duration(d.u32(field)) * time.Second
}

func (d *decoder) addr(field string) netip.Addr {
	switch fam := d.u8(field); fam {
	case famNone:
		return netip.Addr{}
	case famV4:
		if v := d.take(4, field); v != nil {
			return netip.AddrFrom4([4]byte(v))
		}
	case famV6:
		if v := d.take(16, field); v != nil {
			return netip.AddrFrom16([16]byte(v))
		}
	default:
		d.fail("%s: unknown address family %d", field, fam)
	}
	return netip.Addr{}
}

func (d *decoder) addrPort(field string) netip.AddrPort {
	a := d.addr(field)
	if !a.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, d.u16(field))
}

// requiredAddrPort is addrPort for fields where the zero value is not
// allowed.
func (d *decoder) requiredAddrPort(field string) netip.AddrPort {
	ap := d.addrPort(field)
	if d.err == nil && !ap.IsValid() {
		d.fail("%s: missing address", field)
	}
	return ap
}

func (d *decoder) prefix(field string) netip.Prefix {
	a := d.addr(field)
	bits := int(d.u8(field))
	if d.err != nil {
		return netip.Prefix{}
	}
	if !a.IsValid() || bits > a.BitLen() {
		d.fail("%s: invalid prefix", field)
		return netip.Prefix{}
	}
	p := netip.PrefixFrom(a, bits)
	if p != p.Masked() {
		d.fail("%s: prefix %v has host bits set", field, p)
		return netip.Prefix{}
	}
	return p
}
