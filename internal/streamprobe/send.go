package streamprobe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"
)

// endGrace bounds how long the sender tries to deliver its end record.
const endGrace = 2 * time.Second

// Send writes data records to conn every cfg.Interval until cfg.Duration
// has passed or ctx ends, then an end record (three times over UDP). It
// does not close conn. The report is always returned (nil only for a bad
// config); the error says why sending stopped early: ErrStalled when a
// write made no progress for cfg.IdleTimeout, ErrReset, or another
// transport error. A context that ends is a normal stop.
//
// On a conn from NewPeerConn, Send first waits for the receiver's hello.
func Send(ctx context.Context, conn net.Conn, cfg Config) (*Report, error) {
	cfg, err := cfg.populate()
	if err != nil {
		return nil, err
	}
	datagram := isDatagram(conn)
	rep := &Report{
		Role: RoleSend, Network: conn.LocalAddr().Network(),
		IntervalMS: ms(cfg.Interval), RecordSize: cfg.RecordSize,
		GapThresholdMS: ms(cfg.GapThreshold), Gaps: []Gap{},
	}
	if pc, ok := conn.(*peerConn); ok && pc.peerAddr() == nil {
		if err := waitHello(ctx, pc); err != nil {
			rep.Error = err.Error()
			return rep, err
		}
	}
	rep.Local, rep.Remote = addrString(conn.LocalAddr()), addrString(conn.RemoteAddr())
	start := time.Now()
	rep.Start = start
	var lv live
	stopProgress := startProgress(cfg, RoleSend, start, &lv)
	stopInterrupt := interruptOnDone(ctx, conn.SetWriteDeadline)

	h := sha256.New()
	payload := make([]byte, cfg.RecordSize-HeaderSize)
	buf := make([]byte, 0, cfg.RecordSize)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	next := start
	framed := true // false after a partial write: no end record can follow
	var endErr error
loop:
	for seq := uint64(0); ; seq++ {
		if cfg.Duration > 0 && time.Since(start) >= cfg.Duration {
			break
		}
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				break loop
			case <-timer.C:
			}
		}
		now := time.Now()
		FillPattern(payload, seq)
		buf, _ = Append(buf[:0], Record{Kind: KindData, Seq: seq, Sent: now, Payload: payload})
		if cfg.IdleTimeout > 0 {
			_ = conn.SetWriteDeadline(now.Add(cfg.IdleTimeout))
		}
		if ctx.Err() != nil { // checked after the deadline: see interruptOnDone
			break
		}
		n, err := conn.Write(buf)
		if err != nil {
			if n > 0 && n < len(buf) {
				framed = false
			}
			switch {
			case ctx.Err() != nil:
				break loop
			case datagram && transient(err):
				rep.SendErrors++
				cfg.Logger.Debug("send error", "seq", seq, "err", err)
			default:
				endErr = classify(err, cfg.IdleTimeout, "written")
				break loop
			}
		} else {
			h.Write(buf)
			lv.add(now, n)
			rep.Bytes += uint64(n)
			rep.Records++
		}
		next = next.Add(cfg.Interval)
		if now.Sub(next) > cfg.Interval { // fell behind (blocked write): no catch-up burst
			next = now.Add(cfg.Interval)
		}
	}
	stopInterrupt()

	rep.SHA256 = hex.EncodeToString(h.Sum(nil))
	if endErr == nil && framed {
		info := EndInfo{Bytes: rep.Bytes, Records: rep.Records}
		copy(info.SHA256[:], h.Sum(nil))
		if err := writeEnd(conn, info, datagram); err != nil {
			endErr = classify(err, endGrace, "written (end record)")
		} else {
			rep.Complete = true
		}
	}
	stopProgress()
	rep.End = time.Now()
	rep.DurationMS = ms(rep.End.Sub(start))
	if endErr != nil {
		rep.Error = endErr.Error()
		rep.Stalled = errors.Is(endErr, ErrStalled)
		if errors.Is(endErr, ErrReset) {
			rep.Resets++
		}
	}
	return rep, endErr
}

func writeEnd(conn net.Conn, info EndInfo, datagram bool) error {
	rec, err := Append(nil, Record{Kind: KindEnd, Seq: info.Records, Sent: time.Now(), Payload: info.AppendEnd(nil)})
	if err != nil {
		return err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(endGrace))
	copies := 1
	if datagram {
		copies = 3 // end records may be lost like any datagram
	}
	var lastErr error
	ok := false
	for range copies {
		if _, err := conn.Write(rec); err != nil {
			lastErr = err
		} else {
			ok = true
		}
	}
	if !ok {
		return lastErr
	}
	return nil
}

// waitHello blocks until a listening datagram sender hears from its
// receiver.
func waitHello(ctx context.Context, pc *peerConn) error {
	stop := interruptOnDone(ctx, pc.SetReadDeadline)
	defer stop()
	buf := make([]byte, MaxRecordSize)
	for {
		if _, err := pc.Read(buf); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("streamprobe: waiting for the receiver's hello: %w", ctx.Err())
			}
			if transient(err) {
				continue
			}
			return fmt.Errorf("streamprobe: waiting for the receiver's hello: %w", err)
		}
		_ = pc.SetReadDeadline(time.Time{})
		return nil
	}
}
