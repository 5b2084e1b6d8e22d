package binding

import (
	"net/netip"
	"strconv"
	"time"
)

// Flags of a BindingUpdate.
const (
	// FlagAck asks for a BindingAck even on success (rejections are always
	// acknowledged).
	FlagAck uint8 = 1 << 0
	// FlagHome marks a home registration (RFC 6275 'H'). Every update a
	// mobile node sends to its home agent sets it; v1 home agents treat all
	// updates as home registrations.
	FlagHome uint8 = 1 << 1
	// FlagDeregister removes the whole binding, as Lifetime 0 does.
	FlagDeregister uint8 = 1 << 2
	// FlagOverwrite makes the listed entries the complete set: entries in
	// the cache whose binding id is not listed are dropped (RFC 5648 'O').
	// Without it, listed entries are added or updated and the others kept.
	FlagOverwrite uint8 = 1 << 3
)

// Flags of a CareOf entry.
const (
	// EntryRemove removes the entry with this binding id (RFC 5648 BID
	// deregistration). Its other fields are ignored.
	EntryRemove uint8 = 1 << 0
)

// Flags of an EntryStatus.
const (
	// EntryPrimary marks the entry the home agent now sends downlink
	// traffic to.
	EntryPrimary uint8 = 1 << 0
	// EntryObserved marks an entry whose path the home agent has seen
	// traffic on (it has an observed address); a standby entry without it
	// cannot carry traffic yet.
	EntryObserved uint8 = 1 << 1
)

// Kind is the kind of interface a care-of entry belongs to. Unknown values
// are carried unchanged.
type Kind uint8

// Interface kinds.
const (
	KindUnknown  Kind = 0
	KindEthernet Kind = 1
	KindWiFi     Kind = 2
	KindCellular Kind = 3
	KindOther    Kind = 4
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindUnknown:
		return "unknown"
	case KindEthernet:
		return "ethernet"
	case KindWiFi:
		return "wifi"
	case KindCellular:
		return "cellular"
	case KindOther:
		return "other"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// CareOf is one care-of entry of a BindingUpdate: one path of the device,
// usually one per interface (RFC 5648).
type CareOf struct {
	// BID is the binding id, chosen by the device, stable per interface.
	BID uint16
	// Kind is the interface kind.
	Kind Kind
	// Priority orders the entries: the observed entry with the highest
	// priority is primary.
	Priority uint8
	// Flags holds Entry* bits; unknown bits are ignored.
	Flags uint8
	// Local is the address:port the device sees locally on this path
	// (before any NAT). Informational: the home agent uses the address it
	// observes.
	Local netip.AddrPort
}

// BindingUpdate tells the home agent where the device is now.
type BindingUpdate struct {
	// Sequence is compared modulo 2^16 (RFC 6275 §9.5.1, SeqNewer).
	Sequence uint16
	// Flags holds Flag* bits; unknown bits are ignored.
	Flags uint8
	// Lifetime requested; 0 deregisters. Whole seconds on the wire.
	Lifetime time.Duration
	// Via is the binding id of the path this update is sent over. The
	// home agent records the address it observes the update from as that
	// entry's care-of address. It must name a listed, non-removed entry
	// unless the update deregisters.
	Via uint16
	// Entries lists care-of entries to add, update or remove.
	Entries []CareOf
	// PathMTU is the largest inner packet (IP header included) the
	// device expects the path it sends this update over to carry: what
	// its access interface allows, or what it measured; 0 when it does
	// not know. The home agent starts the device's downlink at it on a
	// new primary path. Appended to version 1: written only when not 0,
	// read as 0 from older devices, ignored by older home agents.
	PathMTU uint16
}

// Type implements Message.
func (*BindingUpdate) Type() Type { return TypeBindingUpdate }

func (m *BindingUpdate) encode(e *encoder) {
	e.u16(m.Sequence)
	e.u8(m.Flags)
	e.seconds("lifetime", m.Lifetime)
	e.u16(m.Via)
	e.count("entries", len(m.Entries), MaxCareOfEntries)
	for i := range m.Entries {
		c := &m.Entries[i]
		e.u16(c.BID)
		e.u8(uint8(c.Kind))
		e.u8(c.Priority)
		e.u8(c.Flags)
		e.addrPort("entry local", c.Local)
	}
	if m.PathMTU != 0 {
		e.u16(m.PathMTU)
	}
}

func (m *BindingUpdate) decode(d *decoder) {
	m.Sequence = d.u16("sequence")
	m.Flags = d.u8("flags")
	m.Lifetime = d.seconds("lifetime")
	m.Via = d.u16("via")
	n := d.count("entries", MaxCareOfEntries)
	m.Entries = m.Entries[:0]
	for i := 0; i < n && d.err == nil; i++ {
		m.Entries = append(m.Entries, CareOf{
			BID:      d.u16("entry bid"),
			Kind:     Kind(d.u8("entry kind")),
			Priority: d.u8("entry priority"),
			Flags:    d.u8("entry flags"),
			Local:    d.addrPort("entry local"),
		})
	}
	m.PathMTU = d.optU16("path mtu")
}

// EntryStatus is the home agent's answer about one care-of entry.
type EntryStatus struct {
	// BID is the binding id answered.
	BID uint16
	// Status of this entry.
	Status Status
	// Flags holds EntryPrimary / EntryObserved.
	Flags uint8
}

// BindingAck answers a BindingUpdate (and a Deregister).
type BindingAck struct {
	// Status of the whole update.
	Status Status
	// Sequence answered; on StatusStaleSequence (and StatusRateLimited)
	// the sequence number the home agent holds, so the device continues
	// from Sequence+1.
	Sequence uint16
	// Lifetime granted; 0 when the binding was removed or the update
	// rejected.
	Lifetime time.Duration
	// Observed is the address:port the home agent saw the update come from
	// (the device's care-of address after NAT). Zero if unknown.
	Observed netip.AddrPort
	// Entries holds one status per entry now in the binding.
	Entries []EntryStatus
}

// Type implements Message.
func (*BindingAck) Type() Type { return TypeBindingAck }

func (m *BindingAck) encode(e *encoder) {
	e.u8(uint8(m.Status))
	e.u16(m.Sequence)
	e.seconds("lifetime", m.Lifetime)
	e.addrPort("observed", m.Observed)
	e.count("entries", len(m.Entries), MaxCareOfEntries)
	for _, s := range m.Entries {
		e.u16(s.BID)
		e.u8(uint8(s.Status))
		e.u8(s.Flags)
	}
}

func (m *BindingAck) decode(d *decoder) {
	m.Status = Status(d.u8("status"))
	m.Sequence = d.u16("sequence")
	m.Lifetime = d.seconds("lifetime")
	m.Observed = d.addrPort("observed")
	n := d.count("entries", MaxCareOfEntries)
	m.Entries = m.Entries[:0]
	for i := 0; i < n && d.err == nil; i++ {
		m.Entries = append(m.Entries, EntryStatus{
			BID:    d.u16("entry bid"),
			Status: Status(d.u8("entry status")),
			Flags:  d.u8("entry flags"),
		})
	}
}
