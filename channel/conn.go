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

// MaxFrame is the largest payload a frame may carry.
const MaxFrame = 16 << 20

var (
	// ErrFrameTooLarge is returned for a frame above MaxFrame, sent or received.
	ErrFrameTooLarge = errors.New("frame larger than 16 MiB")
	// ErrUnknownType is returned for a message of a type this version does not know.
	ErrUnknownType = errors.New("unknown message type")
	// ErrMalformed is returned for a frame that does not decode to a message.
	ErrMalformed = errors.New("malformed message")
	// ErrVersion is returned when the peer speaks another protocol version.
	ErrVersion = errors.New("protocol version mismatch")
	// ErrUnexpected is returned for a message the session did not expect now.
	ErrUnexpected = errors.New("unexpected message")
)

// Conn is one end of a channel. Send may be called from several goroutines;
// Recv from one goroutine at a time.
type Conn struct {
	rwc io.ReadWriteCloser

	r    *bufio.Reader
	rbuf []byte
	br   bytes.Reader
	dec  *msgpack.Decoder

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
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, nil
}

// Recv reads the next message. At a clean end of stream between frames it
// returns io.EOF; a frame cut short is io.ErrUnexpectedEOF.
func (c *Conn) Recv() (*Message, error) {
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
	if cap(c.rbuf) < int(n) {
		c.rbuf = make([]byte, n)
	}
	buf := c.rbuf[:n]
	if _, err := io.ReadFull(c.r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("receive: frame of %d bytes cut short: %w", n, err)
	}
	// The decoder copies byte slices out of buf, so buf can be reused.
	c.br.Reset(buf)
	c.dec.Reset(&c.br)
	m := new(Message)
	if err := c.dec.Decode(m); err != nil {
		return nil, fmt.Errorf("receive: %w: %w", ErrMalformed, err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("receive: %w", err)
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
