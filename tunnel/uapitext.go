package tunnel

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// peerUAPI is the UAPI "set" text that adds or replaces p.
func peerUAPI(p Peer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "public_key=%s\nreplace_allowed_ips=true\n", p.PublicKey.hex())
	for _, pfx := range p.AllowedIPs {
		fmt.Fprintf(&b, "allowed_ip=%s\n", pfx.Masked())
	}
	if p.Endpoint.IsValid() {
		fmt.Fprintf(&b, "endpoint=%s\n", p.Endpoint)
	}
	fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", int(p.PersistentKeepalive/time.Second))
	return b.String()
}

// endpointUAPI is the UAPI "set" text that re-points an existing peer.
func endpointUAPI(pub Key, ep netip.AddrPort) string {
	return fmt.Sprintf("public_key=%s\nupdate_only=true\nendpoint=%s\n", pub.hex(), ep)
}

// parsePeersUAPI reads the peers out of UAPI "get" text.
func parsePeersUAPI(s string) ([]PeerStatus, error) {
	var (
		peers []PeerStatus
		cur   *PeerStatus
		sec   int64
		nsec  int64
	)
	flush := func() {
		if cur != nil {
			if sec != 0 || nsec != 0 {
				cur.LastHandshake = time.Unix(sec, nsec)
			}
			peers = append(peers, *cur)
		}
		cur, sec, nsec = nil, 0, 0
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("tunnel: UAPI line %q has no '='", line)
		}
		if key == "public_key" {
			flush()
			b, err := hex.DecodeString(val)
			if err != nil || len(b) != KeyLen {
				return nil, fmt.Errorf("tunnel: UAPI public key %q: %w", val, ErrInvalidKey)
			}
			cur = &PeerStatus{}
			copy(cur.PublicKey[:], b)
			continue
		}
		if cur == nil {
			continue // interface-level line
		}
		var err error
		switch key {
		case "endpoint":
			var ap netip.AddrPort
			ap, err = netip.ParseAddrPort(val)
			cur.Endpoint = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		case "allowed_ip":
			var p netip.Prefix
			p, err = netip.ParsePrefix(val)
			cur.AllowedIPs = append(cur.AllowedIPs, p)
		case "last_handshake_time_sec":
			sec, err = strconv.ParseInt(val, 10, 64)
		case "last_handshake_time_nsec":
			nsec, err = strconv.ParseInt(val, 10, 64)
		case "rx_bytes":
			cur.RxBytes, err = strconv.ParseUint(val, 10, 64)
		case "tx_bytes":
			cur.TxBytes, err = strconv.ParseUint(val, 10, 64)
		case "persistent_keepalive_interval":
			var n uint64
			n, err = strconv.ParseUint(val, 10, 16)
			cur.PersistentKeepalive = time.Duration(n) * time.Second
		}
		if err != nil {
			return nil, fmt.Errorf("tunnel: UAPI line %q: %w", line, err)
		}
	}
	flush()
	return peers, nil
}
