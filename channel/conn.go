// Package channel carries conc's messages between the controller and the
// agent: length-prefixed msgpack frames over any io.ReadWriteCloser, in
// practice the stdin and stdout of the agent's SSH session. The wire format
// is written down in spec.md.
package channel

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Limits on a frame, checked before it is decoded (spec.md, Limits).
const (
	// MaxFrame is the largest payload a frame may carry.
	MaxFrame = 16 << 20
	// MaxDepth is how deep containers may nest in a payload, the payload's
	// own map included. A message needs 5 (a journal entry in a lock
	// record in a body in the message); msgpack's decoder recurses once
	// per level, so depth is what bounds its stack.
	MaxDepth = 32
	// MaxValues is how many msgpack values a payload may hold, counting
	// each container and each map key. An empty map is one byte on the
	// wire and a 112-byte journal entry once decoded, and msgpack's decoder
	// allocates a slice twice over: this bounds the worst frame to about
	// 30 MiB decoded, and still leaves room for a lock record with 7,500
	// journal entries of 17 values each.
	MaxValues = 1 << 17
)

var (
	// ErrFrameTooLarge is returned for a frame above MaxFrame, sent or received.
	ErrFrameTooLarge = errors.New("frame larger than 16 MiB")
	// ErrUnknownType is returned for a message of a type this version does not know.
	ErrUnknownType = errors.New("unknown message type")
	// ErrMalformed is returned for a frame that does not decode to a message.
	ErrMalformed = errors.New("malformed message")
	// ErrLimit is returned for a payload nested deeper than MaxDepth or
	// holding more than MaxValues values. Received, it comes wrapped with
	// ErrMalformed, as the frame is never decoded.
	ErrLimit = errors.New("frame exceeds a decoding limit")
	// ErrVersion is returned when the peer speaks another protocol version.
	ErrVersion = errors.New("protocol version mismatch")
	// ErrUnexpected is returned for a message the session did not expect now.
	ErrUnexpected = errors.New("unexpected message")
)

// Conn is one end of a channel. Send may be called from several goroutines;
// Recv from one goroutine at a time.
//
// The first error Recv returns fails the receiving side for good: every
// later Recv returns it again without reading. A frame that fails may
// leave the stream between frames or in the middle of one, and the spec
// says it ends the session either way. Send still works, so that a side
// can say bye; Close ends the stream.
type Conn struct {
	rwc io.ReadWriteCloser

	r    *bufio.Reader
	rbuf []byte
	br   bytes.Reader
	dec  *msgpack.Decoder
	rerr error // the error that failed Recv

	wmu  sync.Mutex
	wbuf bytes.Buffer
	enc  *msgpack.Encoder

	closeOnce sync.Once
	closeErr  error
}

// New returns a Conn that speaks over rwc. Closing the Conn closes rwc.
func New(rwc io.ReadWriteCloser) *Conn {
	c := &Conn{rwc: rwc, r: bufio.NewReaderSize(rwc, 64<<10)}
	c.enc = msgpack.NewEncoder(&c.wbuf)
	c.enc.UseCompactInts(true)
	c.dec = msgpack.NewDecoder(&c.br)
	return c
}

// Send writes m as one frame with a single Write, so that a frame is never
// interleaved with another and needs no flush.
func (c *Conn) Send(m *Message) error {
	if err := m.check(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := frame(&c.wbuf, c.enc, m)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if _, err := c.rwc.Write(b); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

// frame encodes m as a whole frame into buf, with enc writing to buf, and
// returns buf's bytes.
func frame(buf *bytes.Buffer, enc *msgpack.Encoder, m *Message) ([]byte, error) {
	buf.Reset()
	buf.Write([]byte{0, 0, 0, 0})
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Type, err)
	}
	b := buf.Bytes()
	n := len(b) - 4
	if n > MaxFrame {
		return nil, fmt.Errorf("%s: %w (%d bytes)", m.Type, ErrFrameTooLarge, n)
	}
	// The peer would refuse a message past the limits; say so here, where
	// the message is known, rather than fail the session there.
	if err := scan(b[4:]); err != nil {
		return nil, fmt.Errorf("%s: %w", m.Type, err)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, nil
}

// WholeFrames reports whether b is a run of whole frames, none past
// MaxFrame, as the agent's prelude must be: a prelude that ended inside a
// frame would leave its reader waiting on stdin for the rest. It says
// nothing of what the frames hold; Recv checks that.
func WholeFrames(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 4 {
			return false
		}
		n := binary.BigEndian.Uint32(b)
		if n > MaxFrame || uint64(n) > uint64(len(b)-4) {
			return false
		}
		b = b[4+n:]
	}
	return true
}

// Recv reads the next message. At a clean end of stream between frames it
// returns io.EOF; a frame cut short is io.ErrUnexpectedEOF. A frame past
// the limits is refused before it is decoded. After an error, Recv keeps
// returning that error.
func (c *Conn) Recv() (*Message, error) {
	if c.rerr != nil {
		return nil, c.rerr
	}
	m, err := c.recv()
	if err != nil {
		c.rerr = err
		c.rbuf = nil // a failed side keeps no frame's worth of memory
	}
	return m, err
}

func (c *Conn) recv() (*Message, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("receive: frame header cut short: %w", err)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	switch {
	case n > MaxFrame:
		return nil, fmt.Errorf("receive: %w (%d bytes)", ErrFrameTooLarge, n)
	case n == 0:
		return nil, fmt.Errorf("receive: %w: empty frame", ErrMalformed)
	}
	buf, err := c.readPayload(int(n))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("receive: frame of %d bytes cut short: %w", n, err)
	}
	m, err := c.decode(buf)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	return m, nil
}

// readPayload reads n bytes into c.rbuf. It grows the buffer as the bytes
// arrive rather than to the announced length up front, so that a header
// that promises 16 MiB and is followed by nothing costs a chunk, not
// 16 MiB.
func (c *Conn) readPayload(n int) ([]byte, error) {
	buf := c.rbuf[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, max(2*len(buf), 64<<10)))
			copy(grown, buf)
			buf, c.rbuf = grown, grown
		}
		got, err := io.ReadFull(c.r, buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+got]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// decode checks payload against the limits, then decodes it. The decoder
// copies byte slices out of payload, so payload can be reused.
func (c *Conn) decode(payload []byte) (*Message, error) {
	if err := scan(payload); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	c.br.Reset(payload)
	c.dec.Reset(&c.br)
	m := new(Message)
	if err := c.dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// Close closes the underlying stream; a Recv blocked on it returns.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.rwc.Close() })
	return c.closeErr
}

// CheckVersion returns ErrVersion, naming both versions, unless v is ours.
func CheckVersion(v int) error {
	if v != Version {
		return fmt.Errorf("%w: peer speaks %d, this side %d; use a conc and agent from the same release", ErrVersion, v, Version)
	}
	return nil
}

// Encode returns m as a whole frame, for a caller that must know a frame's
// size before it sends it.
func Encode(m *Message) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	return frame(&buf, enc, m)
}
