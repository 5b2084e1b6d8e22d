package netlab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The delay relay. This kernel has neither the netem nor the fq qdisc, so
// delay is added in user space: the access router's raw prerouting hook
// queues every packet arriving on the access link (upstream) or on its
// wan0 (downstream) to an NFQUEUE (iptables-nft's NFQUEUE target, with
// --queue-bypass so that packets pass undelayed while no relay listens),
// and a relay owned by the Lab reads each packet's metadata (copy mode
// META: no payload crosses into user space), gives it a release time and
// accepts it then. Releases are in queue order: a release time is never
// earlier than the previous packet's, so jitter never reorders, and one
// batch verdict ("every packet up to id N") releases everything due at
// once. The kernel queue holds up to delayQueueLen packets; beyond that
// the kernel drops new packets (tail drop, as a full router buffer
// would). A notification the relay misses (its socket buffer full) is
// released with the next batch verdict.

// nfnetlink queue protocol constants (linux/netfilter/nfnetlink_queue.h).
const (
	nfnlSubsysQueue      = 3
	nfqnlMsgPacket       = 0
	nfqnlMsgConfig       = 2
	nfqnlMsgVerdictBatch = 3
	nfqaPacketHdr        = 1
	nfqaVerdictHdr       = 2
	nfqaCfgCmd           = 1
	nfqaCfgParams        = 2
	nfqaCfgQueueMaxlen   = 3
	nfqnlCfgCmdBind      = 1
	nfqnlCopyMeta        = 1
	nfAccept             = 1
)

// delayQueueLen is the kernel queue's capacity, in packets, per direction.
const delayQueueLen = 65536

// Queue numbers in an access router's namespace.
const (
	queueUp   = 0 // from mn, arriving on the access link
	queueDown = 1 // towards mn, arriving on wan0
)

// DelayStats counts what one direction of a delay relay did.
type DelayStats struct {
	// Packets is the number of packets the relay was told about.
	Packets uint64
	// Missed is the number of packets whose notification the relay never
	// got (socket buffer overflow); the next batch verdict released them.
	Missed uint64
	// MaxBacklog is the largest number of packets held at once.
	MaxBacklog int
}

// delayQueue is one direction of a delay relay: one NFQUEUE instance in
// the router's namespace.
type delayQueue struct {
	log    *slog.Logger
	link   LinkID
	num    uint16
	file   *os.File
	rc     syscall.RawConn
	delay  time.Duration
	jitter time.Duration

	mu     sync.Mutex // guards the fields below
	held   []heldPacket
	head   int
	last   time.Time // release time of the newest packet
	nextID uint32
	stats  DelayStats
	wake   chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
}

type heldPacket struct {
	id uint32
	at time.Time
}

// startDelay opens the relay's two queues inside a's router and then
// diverts the link's packets to them.
func (l *Lab) startDelay(ctx context.Context, a *access) error {
	if _, err := exec.LookPath("iptables-nft"); err != nil {
		return fmt.Errorf("%w: iptables-nft (install iptables) for link delay: %w", ErrMissingTool, err)
	}
	for _, dir := range []struct {
		num uint16
		dev string
	}{{queueUp, a.lan}, {queueDown, routerWAN}} {
		q, err := openDelayQueue(a.router, dir.num, a.cfg.Delay, a.cfg.Jitter, l.log.With("relay", a.id.String(), "queue", dir.num))
		if err != nil {
			return err
		}
		q.link = a.id
		l.mu.Lock()
		l.relays = append(l.relays, q)
		l.mu.Unlock()
		q.start()
		for _, tool := range []string{"iptables-nft", "ip6tables-nft"} {
			if _, err := a.router.Run(ctx, tool, "-w", "-t", "raw", "-A", "PREROUTING", "-i", dir.dev,
				"-j", "NFQUEUE", "--queue-num", fmt.Sprint(dir.num), "--queue-bypass"); err != nil {
				return err
			}
		}
	}
	l.log.Info("delay relay up", "link", a.id.String(), "delay", a.cfg.Delay, "jitter", a.cfg.Jitter)
	return nil
}

// DelayStats returns the counters of the link's delay relay, upstream
// (from mn) and downstream (towards mn); zero values when the link has
// no delay.
func (l *Lab) DelayStats(id LinkID) (up, down DelayStats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range l.relays {
		if q.link != id {
			continue
		}
		if q.num == queueUp {
			up = q.Stats()
		} else {
			down = q.Stats()
		}
	}
	return up, down
}

// stopRelays stops every delay relay of the lab and logs what each did.
func (l *Lab) stopRelays() {
	l.mu.Lock()
	relays := l.relays
	l.relays = nil
	l.mu.Unlock()
	for _, q := range relays {
		q.close()
		st := q.Stats()
		q.log.Info("delay relay down", "packets", st.Packets, "missed", st.Missed, "max_backlog", st.MaxBacklog)
	}
}

// openDelayQueue binds NFQUEUE number num inside router's namespace.
func openDelayQueue(router *Node, num uint16, delay, jitter time.Duration, log *slog.Logger) (*delayQueue, error) {
	var fd int
	err := router.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: nfqueue %d socket: %w", router.NS, num, err)
	}
	// Ample buffering: a missed notification only costs its packet the
	// wait for the next one, but it should not happen at all.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 1)
	f := os.NewFile(uintptr(fd), fmt.Sprintf("nfqueue-%s-%d", router.NS, num))
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("netlab: %s: nfqueue %d: %w", router.NS, num, err)
	}
	q := &delayQueue{log: log, num: num, file: f, rc: rc, delay: delay, jitter: jitter,
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, 0)
	params[4] = nfqnlCopyMeta
	maxlen := binary.BigEndian.AppendUint32(nil, delayQueueLen)
	for i, attrs := range [][][]byte{
		{nlAttr(nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, 0})},
		{nlAttr(nfqaCfgParams, params), nlAttr(nfqaCfgQueueMaxlen, maxlen)},
	} {
		if err := q.request(uint32(i+1), nfqnlMsgConfig, attrs...); err != nil {
			f.Close()
			return nil, fmt.Errorf("netlab: %s: configuring nfqueue %d: %w", router.NS, num, err)
		}
	}
	return q, nil
}

// nlAttr encodes one netlink attribute, padded to 4 bytes.
func nlAttr(typ uint16, payload []byte) []byte {
	n := 4 + len(payload)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(n))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], payload)
	return b
}

// message encodes an nfnetlink queue message for this queue.
func (q *delayQueue) message(seq uint32, msgType uint16, flags uint16, attrs ...[]byte) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN+4)
	binary.NativeEndian.PutUint16(b[4:], nfnlSubsysQueue<<8|msgType)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	// nfgenmsg: family AF_UNSPEC, version 0, res_id = queue number.
	binary.BigEndian.PutUint16(b[unix.NLMSG_HDRLEN+2:], q.num)
	for _, a := range attrs {
		b = append(b, a...)
	}
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	return b
}

func (q *delayQueue) send(b []byte) error {
	var serr error
	err := q.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

func (q *delayQueue) recv(buf []byte) (int, error) {
	var n int
	var rerr error
	err := q.rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// request sends a configuration message and waits for its acknowledgement.
func (q *delayQueue) request(seq uint32, msgType uint16, attrs ...[]byte) error {
	if err := q.send(q.message(seq, msgType, unix.NLM_F_REQUEST|unix.NLM_F_ACK, attrs...)); err != nil {
		return err
	}
	if err := q.file.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	defer q.file.SetReadDeadline(time.Time{})
	buf := make([]byte, 8192)
	for {
		n, err := q.recv(buf)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR || m.Header.Seq != seq || len(m.Data) < 4 {
				continue
			}
			if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
				return syscall.Errno(-e)
			}
			return nil
		}
	}
}

func (q *delayQueue) start() {
	q.wg.Add(2)
	go func() { defer q.wg.Done(); q.readLoop() }()
	go func() { defer q.wg.Done(); q.releaseLoop() }()
}

// close stops both goroutines and closes the socket; the kernel drops
// whatever was still queued (the lab is going away).
func (q *delayQueue) close() {
	close(q.stop)
	_ = q.file.Close() // unblocks readLoop
	q.wg.Wait()
}

// Stats returns the queue's counters.
func (q *delayQueue) Stats() DelayStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}

// readLoop reads packet notifications and schedules each packet's
// release.
func (q *delayQueue) readLoop() {
	buf := make([]byte, 1<<16)
	for {
		n, err := q.recv(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			select {
			case <-q.stop:
				return
			default:
			}
			q.log.Warn("nfqueue read", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		now := time.Now()
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			q.log.Warn("nfqueue message", "err", err)
			continue
		}
		for _, m := range msgs {
			if m.Header.Type != nfnlSubsysQueue<<8|nfqnlMsgPacket || len(m.Data) < 4 {
				continue
			}
			id, ok := packetID(m.Data[4:])
			if !ok {
				continue
			}
			q.hold(id, now)
		}
	}
}

// packetID finds NFQA_PACKET_HDR's packet id among the attributes.
func packetID(b []byte) (uint32, bool) {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b[0:]))
		typ := binary.NativeEndian.Uint16(b[2:]) & 0x3fff
		if n < 4 || n > len(b) {
			return 0, false
		}
		if typ == nfqaPacketHdr && n >= 8 {
			return binary.BigEndian.Uint32(b[4:]), true
		}
		b = b[min((n+3)&^3, len(b)):]
	}
	return 0, false
}

// hold schedules packet id, seen at now.
func (q *delayQueue) hold(id uint32, now time.Time) {
	d := q.delay
	if q.jitter > 0 {
		d += time.Duration(rand.Int64N(int64(2*q.jitter)+1)) - q.jitter
	}
	at := now.Add(d)
	q.mu.Lock()
	if at.Before(q.last) {
		at = q.last // never overtake the packet ahead
	}
	q.last = at
	if q.stats.Packets > 0 && id != q.nextID {
		q.stats.Missed += uint64(id - q.nextID)
	}
	q.nextID = id + 1
	q.stats.Packets++
	q.held = append(q.held, heldPacket{id: id, at: at})
	if b := len(q.held) - q.head; b > q.stats.MaxBacklog {
		q.stats.MaxBacklog = b
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// releaseLoop accepts packets when they are due, in order, with one batch
// verdict for everything due at once.
func (q *delayQueue) releaseLoop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		if q.head == len(q.held) {
			q.held, q.head = q.held[:0], 0
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-q.stop:
				return
			}
		}
		now := time.Now()
		if wait := q.held[q.head].at.Sub(now); wait > 0 {
			q.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-q.stop:
				return
			}
			continue
		}
		var last uint32
		for q.head < len(q.held) && !q.held[q.head].at.After(now) {
			last = q.held[q.head].id
			q.head++
		}
		if q.head > 4096 && q.head*2 > len(q.held) {
			q.held = append(q.held[:0], q.held[q.head:]...)
			q.head = 0
		}
		q.mu.Unlock()
		hdr := binary.BigEndian.AppendUint32(nil, nfAccept)
		hdr = binary.BigEndian.AppendUint32(hdr, last)
		if err := q.send(q.message(0, nfqnlMsgVerdictBatch, unix.NLM_F_REQUEST, nlAttr(nfqaVerdictHdr, hdr))); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			q.log.Warn("nfqueue verdict", "err", err)
		}
	}
}
