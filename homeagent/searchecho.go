package homeagent

import (
	"context"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
)

// echoSearchDatagrams answers each search-assist datagram of a device
// (binding.SearchAssistDatagram, sent while path MTU discovery runs on a
// fresh control connection) with one of its own, for as long as the home
// agent's own search on the connection's active path has not concluded;
// other datagrams (keepalives) are read and dropped. quic-go probes only
// when it sends and declares a probe lost only when a later ack-eliciting
// packet is acknowledged: a home agent that only acknowledges the
// device's packets never learns that its probe of a silent path was
// lost, and its search stalls until the next heartbeat (50 s in the lab).
// The echo is ack-eliciting, one byte for one byte, and stops with the
// search. It returns when ctx ends or the connection closes.
func echoSearchDatagrams(ctx context.Context, conn *quic.Conn, p *connPaths) {
	echo := []byte{binding.SearchAssistDatagram}
	for {
		d, err := conn.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		if _, done := p.pathMTU(); done || len(d) != 1 || d[0] != binding.SearchAssistDatagram {
			continue
		}
		if err := conn.SendDatagram(echo); err != nil {
			return
		}
	}
}
