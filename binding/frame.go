package binding

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Framing errors.
var (
	// ErrVersion: a frame of another protocol version. The stream cannot be
	// trusted any further; close it.
	ErrVersion = errors.New("binding: unsupported protocol version")
	// ErrFrameTooLarge: a frame longer than the reader's limit (fatal for
	// the stream), or a message too long to encode.
	ErrFrameTooLarge = errors.New("binding: frame too large")
	// ErrUnknownType: a frame of a type this version does not know. The
	// frame has been consumed and the stream stays usable; receivers skip
	// it.
	ErrUnknownType = errors.New("binding: unknown message type")
	// ErrTypeMismatch: Decode was asked to fill a message of another type
	// than the frame's.
	ErrTypeMismatch = errors.New("binding: message type mismatch")
)

// HeaderSize is the size of a frame header: version, type, body length.
const HeaderSize = 4

// MaxBody is the largest body a frame can carry (16-bit length).
const MaxBody = 0xffff

// DefaultMaxFrame is the frame size limit of a Reader made with
// maxFrame ≤ 0. Every message of version 1 fits: the largest possible, a
// RegisterAck with 255 IPv6 routes, 8 DNS servers and maximal strings, is
// about 5.5 KB.
const DefaultMaxFrame = 8192

// AppendFrame appends m as one frame (header and body) to b. On error b is
// returned unchanged.
func AppendFrame(b []byte, m Message) ([]byte, error) {
	start := len(b)
	e := encoder{b: append(b, Version, byte(m.Type()), 0, 0)}
	encodeMessage(m, &e)
	if e.err != nil {
		return b[:start], fmt.Errorf("binding: encoding %v: %w", m.Type(), e.err)
	}
	n := len(e.b) - start - HeaderSize
	if n > MaxBody {
		return b[:start], fmt.Errorf("binding: encoding %v: %w: %d bytes", m.Type(), ErrFrameTooLarge, n)
	}
	binary.BigEndian.PutUint16(e.b[start+2:], uint16(n))
	return e.b, nil
}

// Marshal returns m as one frame.
func Marshal(m Message) ([]byte, error) {
	return AppendFrame(nil, m)
}

// Unmarshal decodes the single frame in frame into m, which must be of the
// frame's type. On error m's content is unspecified.
func Unmarshal(frame []byte, m Message) error {
	if len(frame) < HeaderSize {
		return fmt.Errorf("binding: decoding frame: %w: %d bytes, header needs %d", ErrMalformed, len(frame), HeaderSize)
	}
	if frame[0] != Version {
		return fmt.Errorf("binding: decoding frame: %w %d", ErrVersion, frame[0])
	}
	if n := int(binary.BigEndian.Uint16(frame[2:])); n != len(frame)-HeaderSize {
		return fmt.Errorf("binding: decoding frame: %w: length field %d, body %d bytes", ErrMalformed, n, len(frame)-HeaderSize)
	}
	return decodeBody(Type(frame[1]), frame[HeaderSize:], m)
}

func decodeBody(t Type, body []byte, m Message) error {
	if New(t) == nil {
		return fmt.Errorf("binding: decoding frame: %w %d", ErrUnknownType, t)
	}
	if m.Type() != t {
		return fmt.Errorf("binding: decoding %v: %w: frame is %v", m.Type(), ErrTypeMismatch, t)
	}
	d := decoder{b: body}
	decodeMessage(m, &d)
	if d.err != nil {
		return fmt.Errorf("binding: decoding %v: %w", t, d.err)
	}
	return nil
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// WriteMessage writes m to w as one frame with a single Write call. It
// does not serialise writers: a stream shared by several goroutines needs
// the caller's lock around WriteMessage.
func WriteMessage(w io.Writer, m Message) error {
	bp := framePool.Get().(*[]byte)
	defer framePool.Put(bp)
	b, err := AppendFrame((*bp)[:0], m)
	if err != nil {
		return err
	}
	*bp = b
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("binding: writing %v: %w", m.Type(), err)
	}
	return nil
}

// Reader reads frames from a stream one at a time into a reused buffer.
// It is not safe for concurrent use.
//
//	r := binding.NewReader(stream, 0)
//	var bu binding.BindingUpdate
//	for {
//		t, err := r.Next()
//		...
//		if t == binding.TypeBindingUpdate {
//			err = r.Decode(&bu) // no allocation
//		}
//	}
type Reader struct {
	r    io.Reader
	max  int
	hdr  [HeaderSize]byte
	buf  []byte
	typ  Type
	body []byte
	ok   bool
}

// NewReader returns a Reader on r that refuses frames longer than
// maxFrame bytes (header included); maxFrame ≤ 0 means DefaultMaxFrame.
func NewReader(r io.Reader, maxFrame int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	if maxFrame > HeaderSize+MaxBody {
		maxFrame = HeaderSize + MaxBody
	}
	return &Reader{r: r, max: maxFrame}
}

// Next reads the next frame and returns its type; Decode then fills a
// message from it. Unknown types are returned without error, so that the
// caller can skip them. It returns io.EOF at a clean end of stream,
// io.ErrUnexpectedEOF inside a frame, and ErrVersion or ErrFrameTooLarge
// for frames the stream cannot recover from.
func (r *Reader) Next() (Type, error) {
	r.ok = false
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if err == io.EOF {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("binding: reading frame header: %w", err)
	}
	if r.hdr[0] != Version {
		return 0, fmt.Errorf("binding: reading frame: %w %d", ErrVersion, r.hdr[0])
	}
	n := int(binary.BigEndian.Uint16(r.hdr[2:]))
	if HeaderSize+n > r.max {
		return 0, fmt.Errorf("binding: reading frame: %w: %d bytes, limit %d", ErrFrameTooLarge, HeaderSize+n, r.max)
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n, max(n, 512))
	}
	r.body = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("binding: reading %v body: %w", Type(r.hdr[1]), err)
	}
	r.typ = Type(r.hdr[1])
	r.ok = true
	return r.typ, nil
}

// Decode fills m from the frame Next read last. m must be of that type
// (ErrTypeMismatch otherwise). Decoding into a value reused across calls
// does not allocate once its slices have grown.
func (r *Reader) Decode(m Message) error {
	if !r.ok {
		return errors.New("binding: Decode without a frame read by Next")
	}
	return decodeBody(r.typ, r.body, m)
}

// ReadMessage reads the next frame and returns it as a new message. For an
// unknown type it returns an error matching ErrUnknownType; the frame is
// consumed and the stream stays usable.
func (r *Reader) ReadMessage() (Message, error) {
	t, err := r.Next()
	if err != nil {
		return nil, err
	}
	m := New(t)
	if m == nil {
		return nil, fmt.Errorf("binding: reading frame: %w %d", ErrUnknownType, t)
	}
	if err := r.Decode(m); err != nil {
		return nil, err
	}
	return m, nil
}
