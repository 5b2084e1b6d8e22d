package dns

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultResolvConfs are the files HostResolvers reads by default, in
// order: systemd-resolved's list of the real upstreams first (when it
// runs, /etc/resolv.conf names only its stub at 127.0.0.53, which works
// too but adds a hop), then the classic file.
var DefaultResolvConfs = []string{"/run/systemd/resolve/resolv.conf", "/etc/resolv.conf"}

// hostRecheck is how often HostResolvers looks at its files again, so a
// host whose resolvers change (DHCP, a VPN, resolvconf) is followed
// without a restart.
const hostRecheck = 5 * time.Second

// HostResolvers follows the host's own resolvers, as named by the
// nameserver lines of the first readable file of its list that names any.
// Addresses the server itself listens on are left out, so a host that
// points its resolver at the home agent's DNS never makes it forward to
// itself. Safe for concurrent use.
type HostResolvers struct {
	files []string
	self  map[netip.Addr]bool
	now   func() time.Time
	port  uint16 // 53; tests point it at a resolver of their own

	mu      sync.Mutex
	checked time.Time
	stamp   string // what the files looked like when last read
	addrs   []netip.AddrPort
	from    string
}

// NewHostResolvers returns a source reading files (DefaultResolvConfs when
// none) and leaving out the addresses in exclude.
func NewHostResolvers(files []string, exclude []netip.AddrPort) *HostResolvers {
	if len(files) == 0 {
		files = DefaultResolvConfs
	}
	h := &HostResolvers{files: files, self: map[netip.Addr]bool{}, now: time.Now, port: 53}
	for _, ap := range exclude {
		h.self[ap.Addr().Unmap()] = true
	}
	return h
}

// Upstreams returns the host's resolvers now (port 53) and the file they
// came from; none when no file names a usable one. The files are read
// again when they changed, at most every few seconds.
func (h *HostResolvers) Upstreams() ([]netip.AddrPort, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if !h.checked.IsZero() && now.Sub(h.checked) < hostRecheck {
		return h.addrs, h.from
	}
	h.checked = now
	stamp := h.fileStamp()
	if stamp == h.stamp && h.stamp != "" {
		return h.addrs, h.from
	}
	h.stamp = stamp
	h.addrs, h.from = nil, ""
	for _, f := range h.files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if addrs := h.parse(b); len(addrs) > 0 {
			h.addrs, h.from = addrs, f
			break
		}
	}
	return h.addrs, h.from
}

// fileStamp sums up the files' sizes and modification times.
func (h *HostResolvers) fileStamp() string {
	var sb strings.Builder
	for _, f := range h.files {
		fi, err := os.Stat(f)
		if err != nil {
			sb.WriteString("-;")
			continue
		}
		fmt.Fprintf(&sb, "%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return sb.String()
}

// parse reads the nameserver lines of one resolv.conf.
func (h *HostResolvers) parse(b []byte) []netip.AddrPort {
	var out []netip.AddrPort
	seen := map[netip.Addr]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		a = a.Unmap()
		if h.self[a.WithZone("")] || seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, netip.AddrPortFrom(a, h.port))
	}
	return out
}
