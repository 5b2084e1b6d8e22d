package homeagent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/tunnel"
)

// BindingsFile, in the data directory, keeps the last known bindings
// (see keptBinding) so that a restarted home agent re-creates its peers
// at once.
const BindingsFile = "bindings"

// Errors of the bindings file. A file refused with either is left in
// place under BindingsFile+".refused" and the home agent starts without
// the bindings it held: they are soft state, and the devices' next
// messages bring them back.
var (
	// ErrBindingsCorrupt: the file is truncated, fails its checksum or
	// holds a record that does not decode.
	ErrBindingsCorrupt = errors.New("homeagent: bindings file corrupt")
	// ErrBindingsVersion: the file was written in a newer format than
	// this home agent reads.
	ErrBindingsVersion = errors.New("homeagent: bindings file written by a newer home agent")
)

// The bindings file: bindingsMagic, one version byte, a uint32 count of
// records, each a uint16 length and that many bytes (see appendKept),
// and a CRC-32C of everything before it. Integers are big-endian.
// Version 2 added the home agent's local address to each record; version
// 1 files are still read.
const (
	bindingsMagic   = "HIPBIND"
	bindingsVersion = 2
	maxKeptRecord   = 1 << 12
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// keptBinding is what the home agent keeps of one device's binding: the
// binding itself (care-of entries, sequence, expiry), the WireGuard key
// its peer had (a device enrolled again since does not get the old
// binding back), when the binding began and last moved, and the downlink
// path MTU.
type keptBinding struct {
	b                   binding.Binding
	wg                  tunnel.Key
	since, lastHandover time.Time
	mtu                 pathMTU
	// local is the home agent's address the device's control datagrams
	// arrived on, which its WireGuard packets must leave from (a NAT in
	// front of the device drops replies from another address); zero when
	// not known, and then the route decides.
	local netip.Addr
}

var mtuStates = []string{mtuInterface, mtuDevice, mtuSearching, mtuDiscovered}

func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, 0)
	}
	a := ap.Addr()
	b = append(b, byte(a.BitLen()/8))
	b = append(b, a.AsSlice()...)
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

func appendTime(b []byte, t time.Time) []byte {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

// appendKept appends k's record body.
func appendKept(b []byte, k *keptBinding) []byte {
	b = append(b, byte(len(k.b.Device)))
	b = append(b, k.b.Device...)
	b = append(b, k.wg[:]...)
	b = binary.BigEndian.AppendUint16(b, k.b.Sequence)
	b = appendTime(b, k.b.Expires)
	b = appendTime(b, k.since)
	b = appendTime(b, k.lastHandover)
	b = binary.BigEndian.AppendUint16(b, uint16(k.mtu.Limit))
	b = binary.BigEndian.AppendUint16(b, uint16(k.mtu.Confirmed))
	st := byte(0)
	for i, s := range mtuStates {
		if s == k.mtu.State {
			st = byte(i)
		}
	}
	b = append(b, st)
	b = append(b, byte(len(k.b.Entries)))
	for _, e := range k.b.Entries {
		b = binary.BigEndian.AppendUint16(b, e.BID)
		var flags byte
		if e.Primary {
			flags = 1
		}
		b = append(b, byte(e.Kind), e.Priority, flags)
		b = appendAddrPort(b, e.Observed)
		b = appendAddrPort(b, e.Local)
		b = appendTime(b, e.LastSeen)
	}
	return appendAddrPort(b, netip.AddrPortFrom(k.local, 0))
}

// encodeBindings returns the file's contents for ks.
func encodeBindings(ks []keptBinding) []byte {
	b := make([]byte, 0, 16+len(ks)*96)
	b = append(b, bindingsMagic...)
	b = append(b, bindingsVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ks)))
	for i := range ks {
		at := len(b)
		b = append(b, 0, 0)
		b = appendKept(b, &ks[i])
		binary.BigEndian.PutUint16(b[at:], uint16(len(b)-at-2))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32c))
}

// decoder reads a record body; the first failure sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(why string) {
	if d.err == nil {
		d.err = errors.New(why)
	}
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("record truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte {
	if v := d.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) time() time.Time {
	v := d.bytes(8)
	if v == nil {
		return time.Time{}
	}
	n := int64(binary.BigEndian.Uint64(v))
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (d *decoder) addrPort() netip.AddrPort {
	n := int(d.u8())
	if d.err != nil || n == 0 {
		return netip.AddrPort{}
	}
	if n != 4 && n != 16 {
		d.fail(fmt.Sprintf("address of %d bytes", n))
		return netip.AddrPort{}
	}
	a, _ := netip.AddrFromSlice(d.bytes(n))
	return netip.AddrPortFrom(a, d.u16())
}

// decodeKept decodes one record body of a file of the given version.
func decodeKept(body []byte, version byte) (keptBinding, error) {
	d := &decoder{b: body}
	var k keptBinding
	n := int(d.u8())
	if d.err == nil && n == 0 {
		d.fail("empty device id")
	}
	k.b.Device = string(d.bytes(n))
	copy(k.wg[:], d.bytes(len(k.wg)))
	k.b.Sequence = d.u16()
	k.b.Expires = d.time()
	k.since, k.lastHandover = d.time(), d.time()
	k.mtu.Limit, k.mtu.Confirmed = int(d.u16()), int(d.u16())
	if st := int(d.u8()); st < len(mtuStates) {
		k.mtu.State = mtuStates[st]
	} else {
		d.fail(fmt.Sprintf("unknown path MTU state %d", st))
	}
	ne := int(d.u8())
	if ne > binding.MaxCareOfEntries {
		d.fail(fmt.Sprintf("%d care-of entries, at most %d", ne, binding.MaxCareOfEntries))
	}
	for i := 0; i < ne && d.err == nil; i++ {
		var e binding.Entry
		e.BID = d.u16()
		e.Kind, e.Priority = binding.Kind(d.u8()), d.u8()
		switch flags := d.u8(); flags {
		case 0:
		case 1:
			e.Primary = true
		default:
			d.fail(fmt.Sprintf("unknown entry flags %#x", flags))
		}
		e.Observed, e.Local, e.LastSeen = d.addrPort(), d.addrPort(), d.time()
		k.b.Entries = append(k.b.Entries, e)
	}
	if version >= 2 {
		k.local = d.addrPort().Addr()
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Sprintf("%d bytes after the record", len(d.b)))
	}
	if d.err == nil && k.b.Expires.IsZero() {
		d.fail("no expiry")
	}
	if d.err != nil {
		return keptBinding{}, d.err
	}
	if e, ok := primaryEntry(k.b); ok {
		k.b.Primary, k.b.PrimaryBID = e.Observed, e.BID
	}
	return k, nil
}

func primaryEntry(b binding.Binding) (binding.Entry, bool) {
	for _, e := range b.Entries {
		if e.Primary {
			return e, true
		}
	}
	return binding.Entry{}, false
}

// decodeBindings parses a bindings file. It refuses a file of another
// format or version, or one that is damaged anywhere, as a whole: a
// damaged file says nothing reliable about any binding.
func decodeBindings(data []byte) ([]keptBinding, error) {
	hdr := len(bindingsMagic) + 1 + 4
	if len(data) < len(bindingsMagic)+1 || string(data[:len(bindingsMagic)]) != bindingsMagic {
		return nil, fmt.Errorf("%w: not a bindings file", ErrBindingsCorrupt)
	}
	version := data[len(bindingsMagic)]
	if v := version; v != bindingsVersion && v != 1 {
		if v > bindingsVersion {
			return nil, fmt.Errorf("%w: format version %d, this one reads %d", ErrBindingsVersion, v, bindingsVersion)
		}
		return nil, fmt.Errorf("%w: unknown format version %d", ErrBindingsCorrupt, v)
	}
	if len(data) < hdr+4 {
		return nil, fmt.Errorf("%w: truncated (%d bytes)", ErrBindingsCorrupt, len(data))
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crc32c) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBindingsCorrupt)
	}
	count := binary.BigEndian.Uint32(data[len(bindingsMagic)+1:])
	rest := body[hdr:]
	if uint64(count)*2 > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrBindingsCorrupt, count, len(rest))
	}
	out := make([]keptBinding, 0, count)
	seen := make(map[string]bool, count)
	for i := range int(count) {
		if len(rest) < 2 {
			return nil, fmt.Errorf("%w: record %d truncated", ErrBindingsCorrupt, i)
		}
		n := int(binary.BigEndian.Uint16(rest))
		if n > maxKeptRecord || n > len(rest)-2 {
			return nil, fmt.Errorf("%w: record %d of %d bytes does not fit", ErrBindingsCorrupt, i, n)
		}
		k, err := decodeKept(rest[2:2+n], version)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrBindingsCorrupt, i, err)
		}
		if seen[k.b.Device] {
			return nil, fmt.Errorf("%w: device %q kept twice", ErrBindingsCorrupt, k.b.Device)
		}
		seen[k.b.Device] = true
		out = append(out, k)
		rest = rest[2+n:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last record", ErrBindingsCorrupt, len(rest))
	}
	return out, nil
}

// writeFileAtomic replaces path with data so that a crash at any moment
// leaves either the old file or the new one, whole: a temporary file in
// the same directory, synced, renamed over path, and the directory
// synced.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
