package streamprobe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// helloEvery is how often a dialing datagram receiver says hello until
// data flows.
const helloEvery = 100 * time.Millisecond

// Receive reads records from conn until the sender's end record arrives,
// the stream fails, nothing arrives for cfg.IdleTimeout, or ctx ends. It
// does not close conn. The report is always returned (nil only for a bad
// config); the error says why the stream ended abnormally: ErrStalled,
// ErrReset, ErrIncomplete (closed before the end record), ErrMismatch (the
// end record disagrees with what arrived), ErrBadRecord (garbage on a TCP
// stream), or the context's error.
func Receive(ctx context.Context, conn net.Conn, cfg Config) (*Report, error) {
	cfg, err := cfg.populate()
	if err != nil {
		return nil, err
	}
	datagram := isDatagram(conn)
	start := time.Now()
	rep := &Report{
		Role: RoleRecv, Network: conn.LocalAddr().Network(),
		Local: addrString(conn.LocalAddr()), Remote: addrString(conn.RemoteAddr()),
		Start: start,
	}
	tr := newTracker(start, cfg.GapThreshold)
	var lv live
	stopProgress := startProgress(cfg, RoleRecv, start, &lv)
	stopInterrupt := interruptOnDone(ctx, conn.SetReadDeadline)

	gotData := make(chan struct{})
	var gotOnce sync.Once
	var helloWG sync.WaitGroup
	if datagram && cfg.SayHello {
		helloWG.Go(func() { sayHello(ctx, conn, gotData) })
	}

	h := sha256.New()
	var read func() (Record, []byte, error)
	if datagram {
		buf := make([]byte, MaxRecordSize+1)
		read = func() (Record, []byte, error) {
			n, err := conn.Read(buf)
			if err != nil {
				return Record{}, nil, err
			}
			rec, m, err := Decode(buf[:n])
			if err == nil && m != n {
				err = fmt.Errorf("%w: datagram of %d bytes holds a %d-byte record", ErrBadRecord, n, m)
			}
			return rec, buf[:n], err
		}
	} else {
		br := bufio.NewReaderSize(conn, 64<<10)
		buf := make([]byte, MaxRecordSize)
		read = func() (Record, []byte, error) {
			if _, err := io.ReadFull(br, buf[:HeaderSize]); err != nil {
				return Record{}, nil, err
			}
			hd, err := ParseHeader(buf[:HeaderSize])
			if err != nil {
				return Record{}, nil, err
			}
			if _, err := io.ReadFull(br, buf[HeaderSize:hd.Length]); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return Record{}, nil, err
			}
			rec, _, err := Decode(buf[:hd.Length])
			return rec, buf[:hd.Length], err
		}
	}

	var endErr error
	end := start
loop:
	for {
		if cfg.IdleTimeout > 0 {
			_ = conn.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		}
		if ctx.Err() != nil { // checked after the deadline: see interruptOnDone
			endErr = ctx.Err()
			break
		}
		rec, raw, err := read()
		now := time.Now()
		end = now
		if err != nil {
			switch {
			case ctx.Err() != nil:
				endErr = ctx.Err()
				break loop
			case datagram && errors.Is(err, ErrBadRecord):
				rep.Corrupt++
				continue
			case datagram && transient(err):
				continue
			case errors.Is(err, ErrBadRecord):
				endErr = err
			default:
				endErr = classify(err, cfg.IdleTimeout, "received")
			}
			break loop
		}
		switch rec.Kind {
		case KindData:
			gotOnce.Do(func() { close(gotData) })
			if !patternOK(rec.Payload, rec.Seq) {
				rep.Corrupt++
			}
			h.Write(raw)
			rep.Bytes += uint64(len(raw))
			rep.Records++
			tr.arrive(now, rec.Seq, rec.Sent)
			lv.mu.Lock()
			lv.bytes, lv.records, lv.lastAt = rep.Bytes, rep.Records, now
			lv.gaps, lv.maxGap, lv.missing = len(tr.gaps), tr.maxGap, tr.missing
			lv.mu.Unlock()
		case KindEnd:
			info, err := ParseEnd(rec.Payload)
			if err != nil {
				endErr = err
				break loop
			}
			rep.Complete = true
			rep.PeerBytes, rep.PeerRecords = info.Bytes, info.Records
			rep.PeerSHA256 = hex.EncodeToString(info.SHA256[:])
			sum := h.Sum(nil)
			rep.Verified = info.Bytes == rep.Bytes && info.Records == rep.Records && bytes.Equal(sum, info.SHA256[:])
			if !rep.Verified {
				endErr = fmt.Errorf("%w: got %d records / %d bytes, sender sent %d / %d", ErrMismatch, rep.Records, rep.Bytes, info.Records, info.Bytes)
			}
			break loop
		case KindHello:
		}
	}
	stopInterrupt()
	gotOnce.Do(func() { close(gotData) })
	helloWG.Wait()
	stopProgress()

	tr.finish(end)
	tr.fill(rep)
	rep.SHA256 = hex.EncodeToString(h.Sum(nil))
	rep.End = end
	rep.DurationMS = ms(end.Sub(start))
	rep.Remote = addrString(conn.RemoteAddr())
	if endErr != nil {
		rep.Error = endErr.Error()
		rep.Stalled = errors.Is(endErr, ErrStalled)
		if errors.Is(endErr, ErrReset) {
			rep.Resets++
		}
	}
	return rep, endErr
}

// sayHello sends hello records until data arrives or ctx ends.
func sayHello(ctx context.Context, conn net.Conn, gotData <-chan struct{}) {
	hello, _ := Append(nil, Record{Kind: KindHello, Sent: time.Now()})
	t := time.NewTicker(helloEvery)
	defer t.Stop()
	for {
		_ = conn.SetWriteDeadline(time.Now().Add(helloEvery))
		_, _ = conn.Write(hello)
		select {
		case <-gotData:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
