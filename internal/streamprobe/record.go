package streamprobe

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Wire format of a record (big endian):
//
//	0  uint32  magic "hIPr" (0x68495072)
//	4  uint8   version (1)
//	5  uint8   kind (1 data, 2 end, 3 hello)
//	6  uint16  reserved, zero
//	8  uint32  length of the whole record, header included
//	12 uint64  sequence number (data records count from 0)
//	20 int64   send time, Unix nanoseconds
//	28 ...     payload: data records a pattern derived from the sequence
//	           number; end records EndInfo (48 bytes); hello records none.
const (
	Magic      = 0x68495072
	Version    = 1
	HeaderSize = 28
	// MaxRecordSize is the largest record, so a record fits one UDP
	// datagram.
	MaxRecordSize = 65507
	endSize       = HeaderSize + 8 + 8 + sha256.Size
)

// Kind is a record's type.
type Kind uint8

// Record kinds.
const (
	KindData  Kind = 1
	KindEnd   Kind = 2
	KindHello Kind = 3
)

// String names the kind ("data", "end", "hello").
func (k Kind) String() string {
	switch k {
	case KindData:
		return "data"
	case KindEnd:
		return "end"
	case KindHello:
		return "hello"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ErrBadRecord is wrapped by every decoding error.
var ErrBadRecord = errors.New("streamprobe: bad record")

// Record is one decoded record. Payload aliases the decoded buffer.
type Record struct {
	Kind    Kind
	Seq     uint64
	Sent    time.Time
	Payload []byte
}

// EndInfo is what a sender reports about its stream in the end record.
type EndInfo struct {
	Bytes   uint64
	Records uint64
	SHA256  [sha256.Size]byte
}

// Header is a decoded record header.
type Header struct {
	Kind   Kind
	Length int
	Seq    uint64
	Sent   time.Time
}

// ParseHeader decodes and validates the first HeaderSize bytes of a record.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrBadRecord, len(b), HeaderSize)
	}
	if m := binary.BigEndian.Uint32(b); m != Magic {
		return Header{}, fmt.Errorf("%w: magic %#x", ErrBadRecord, m)
	}
	if b[4] != Version {
		return Header{}, fmt.Errorf("%w: version %d", ErrBadRecord, b[4])
	}
	if r := binary.BigEndian.Uint16(b[6:]); r != 0 {
		return Header{}, fmt.Errorf("%w: reserved field %#x", ErrBadRecord, r)
	}
	h := Header{
		Kind:   Kind(b[5]),
		Length: int(binary.BigEndian.Uint32(b[8:])),
		Seq:    binary.BigEndian.Uint64(b[12:]),
		Sent:   time.Unix(0, int64(binary.BigEndian.Uint64(b[20:]))),
	}
	switch h.Kind {
	case KindData:
		if h.Length < HeaderSize || h.Length > MaxRecordSize {
			return Header{}, fmt.Errorf("%w: data length %d", ErrBadRecord, h.Length)
		}
	case KindEnd:
		if h.Length != endSize {
			return Header{}, fmt.Errorf("%w: end length %d, want %d", ErrBadRecord, h.Length, endSize)
		}
	case KindHello:
		if h.Length != HeaderSize {
			return Header{}, fmt.Errorf("%w: hello length %d, want %d", ErrBadRecord, h.Length, HeaderSize)
		}
	default:
		return Header{}, fmt.Errorf("%w: kind %d", ErrBadRecord, b[5])
	}
	return h, nil
}

// Decode decodes the record at the start of b and returns it with its
// length in bytes.
func Decode(b []byte) (Record, int, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Record{}, 0, err
	}
	if len(b) < h.Length {
		return Record{}, 0, fmt.Errorf("%w: %d bytes, record needs %d", ErrBadRecord, len(b), h.Length)
	}
	return Record{Kind: h.Kind, Seq: h.Seq, Sent: h.Sent, Payload: b[HeaderSize:h.Length]}, h.Length, nil
}

// Append encodes r onto dst. It fails on a payload too large for its kind.
func Append(dst []byte, r Record) ([]byte, error) {
	n := HeaderSize + len(r.Payload)
	switch r.Kind {
	case KindData:
		if n > MaxRecordSize {
			return dst, fmt.Errorf("%w: data record of %d bytes exceeds %d", ErrBadRecord, n, MaxRecordSize)
		}
	case KindEnd:
		if n != endSize {
			return dst, fmt.Errorf("%w: end payload of %d bytes", ErrBadRecord, len(r.Payload))
		}
	case KindHello:
		if n != HeaderSize {
			return dst, fmt.Errorf("%w: hello with payload", ErrBadRecord)
		}
	default:
		return dst, fmt.Errorf("%w: kind %d", ErrBadRecord, r.Kind)
	}
	dst = binary.BigEndian.AppendUint32(dst, Magic)
	dst = append(dst, Version, byte(r.Kind), 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = binary.BigEndian.AppendUint64(dst, r.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Sent.UnixNano()))
	return append(dst, r.Payload...), nil
}

// FillPattern writes the payload pattern of data record seq into p.
func FillPattern(p []byte, seq uint64) {
	x := seq*0x9E3779B97F4A7C15 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
}

// patternOK reports whether p is the payload pattern of record seq.
func patternOK(p []byte, seq uint64) bool {
	x := seq*0x9E3779B97F4A7C15 + 1
	for _, b := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		if b != byte(x) {
			return false
		}
	}
	return true
}

// AppendEnd encodes info as an end-record payload.
func (info EndInfo) AppendEnd(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, info.Bytes)
	dst = binary.BigEndian.AppendUint64(dst, info.Records)
	return append(dst, info.SHA256[:]...)
}

// ParseEnd decodes an end record's payload.
func ParseEnd(p []byte) (EndInfo, error) {
	if len(p) != endSize-HeaderSize {
		return EndInfo{}, fmt.Errorf("%w: end payload of %d bytes", ErrBadRecord, len(p))
	}
	var info EndInfo
	info.Bytes = binary.BigEndian.Uint64(p)
	info.Records = binary.BigEndian.Uint64(p[8:])
	copy(info.SHA256[:], p[16:])
	return info, nil
}
