package pool

import (
	"math"
	"net/netip"
)

// PrefixUsage counts the addresses of one prefix.
type PrefixUsage struct {
	Prefix      netip.Prefix
	Capacity    uint64 // usable addresses, saturated at math.MaxUint64
	Leased      uint64 // held by a device (reserved or not)
	Reserved    uint64 // reserved but not held
	Quarantined uint64 // released, kept from other devices
}

// Used is every address that cannot be handed to a new device.
func (u PrefixUsage) Used() uint64 { return u.Leased + u.Reserved + u.Quarantined }

// FamilyUsage sums the prefixes of one family.
type FamilyUsage struct {
	Family      Family
	Capacity    uint64 // saturated at math.MaxUint64
	Leased      uint64
	Reserved    uint64
	Quarantined uint64
	Prefixes    []PrefixUsage
}

// Used is every address that cannot be handed to a new device.
func (u FamilyUsage) Used() uint64 { return u.Leased + u.Reserved + u.Quarantined }

// Ratio is Used/Capacity in [0, 1] (0 for an empty family), the figure to
// export as a utilisation gauge.
func (u FamilyUsage) Ratio() float64 {
	if u.Capacity == 0 {
		return 0
	}
	return math.Min(1, float64(u.Used())/float64(u.Capacity))
}

// Utilisation returns the usage of every configured family, IPv4 first.
// Expired quarantines are freed first.
func (p *Pool) Utilisation() []FamilyUsage {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expireLocked(p.now().UnixNano())
	var out []FamilyUsage
	for _, f := range []Family{IPv4, IPv6} {
		pss := p.sp.fam[famIndex(f)]
		if len(pss) == 0 {
			continue
		}
		fu := FamilyUsage{Family: f}
		for _, ps := range pss {
			pu := PrefixUsage{Prefix: ps.p, Capacity: ps.capacity, Leased: ps.held, Reserved: ps.reserved, Quarantined: ps.quarantined}
			fu.Prefixes = append(fu.Prefixes, pu)
			if fu.Capacity > math.MaxUint64-pu.Capacity {
				fu.Capacity = math.MaxUint64
			} else {
				fu.Capacity += pu.Capacity
			}
			fu.Leased += pu.Leased
			fu.Reserved += pu.Reserved
			fu.Quarantined += pu.Quarantined
		}
		out = append(out, fu)
	}
	return out
}
