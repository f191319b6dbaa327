package channel

import (
	"encoding/binary"
	"fmt"
)

// A kind is what a msgpack value's first byte says follows it.
type kind uint8

const (
	kInvalid kind = iota // 0xc1, which msgpack never uses
	kFixed               // nil, bool, int, float: n more bytes
	kBytes               // str, bin: a length, then that many bytes
	kExt                 // ext, fixext, timestamp: a length, a type byte, the data
	kArray               // a count, then that many values
	kMap                 // a count, then twice that many values
)

// scanner walks a payload's msgpack structure without decoding it, so that
// nothing is allocated for a frame before it is known to be within the
// limits. It keeps its stack in a fixed array, not on the goroutine's
// stack: msgpack's own decoder recurses once per level of nesting, and a
// frame of 16 MiB of nested arrays is 16 million levels.
type scanner struct {
	b       []byte
	off     int                  // the next byte to read
	depth   int                  // containers open, the payload's own included
	left    [MaxDepth + 1]uint64 // values still to read in each open container; left[0] is the payload
	pending uint64               // the sum of left: values still to read, each at least one byte
	values  int                  // values read so far, containers included
}

// scan checks that payload holds exactly one msgpack value, nested at most
// MaxDepth deep, of at most MaxValues values, whose every length fits in
// what is left of the payload. Limits broken are ErrLimit; anything else
// is a plain error, which the caller reports as malformed.
func scan(payload []byte) error {
	s := scanner{b: payload, pending: 1}
	s.left[0] = 1
	for s.pending > 0 {
		for s.left[s.depth] == 0 {
			s.depth--
		}
		s.left[s.depth]--
		s.pending--
		if err := s.value(); err != nil {
			return err
		}
	}
	if s.off != len(s.b) {
		return fmt.Errorf("%d bytes follow the value", len(s.b)-s.off)
	}
	return nil
}

// value reads one value, or a container's head, and leaves s.off after it.
func (s *scanner) value() error {
	s.values++
	if s.values > MaxValues {
		return fmt.Errorf("%w: more than %d values", ErrLimit, MaxValues)
	}
	at := s.off
	c, err := s.read(1)
	if err != nil {
		return err
	}
	k, n, lenSize := head(byte(c))
	if lenSize > 0 {
		if n, err = s.read(lenSize); err != nil {
			return err
		}
	}
	switch k {
	case kFixed, kBytes:
		return s.skip(at, n)
	case kExt:
		// The type byte, then the data. A timestamp (type -1) is an ext
		// like any other here; its decoder checks its size.
		return s.skip(at, n+1)
	case kArray:
		return s.open(at, n, 1)
	case kMap:
		return s.open(at, n, 2)
	}
	return fmt.Errorf("byte 0x%02x at offset %d is not msgpack", c, at)
}

// head decodes a first byte: the kind, and either the length itself (n) or
// the size of the big-endian length that follows (lenSize).
func head(c byte) (k kind, n uint64, lenSize int) {
	switch {
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		return kFixed, 0, 0
	case c <= 0x8f:
		return kMap, uint64(c & 0x0f), 0
	case c <= 0x9f:
		return kArray, uint64(c & 0x0f), 0
	case c <= 0xbf:
		return kBytes, uint64(c & 0x1f), 0
	case c == 0xc0, c == 0xc2, c == 0xc3: // nil, false, true
		return kFixed, 0, 0
	case c >= 0xc4 && c <= 0xc6: // bin 8, 16, 32
		return kBytes, 0, 1 << (c - 0xc4)
	case c >= 0xc7 && c <= 0xc9: // ext 8, 16, 32
		return kExt, 0, 1 << (c - 0xc7)
	case c == 0xca, c == 0xcb: // float 32, 64
		return kFixed, 4 << (c - 0xca), 0
	case c >= 0xcc && c <= 0xcf: // uint 8 to 64
		return kFixed, 1 << (c - 0xcc), 0
	case c >= 0xd0 && c <= 0xd3: // int 8 to 64
		return kFixed, 1 << (c - 0xd0), 0
	case c >= 0xd4 && c <= 0xd8: // fixext 1 to 16
		return kExt, 1 << (c - 0xd4), 0
	case c >= 0xd9 && c <= 0xdb: // str 8, 16, 32
		return kBytes, 0, 1 << (c - 0xd9)
	case c == 0xdc, c == 0xdd: // array 16, 32
		return kArray, 0, 2 << (c - 0xdc)
	case c == 0xde, c == 0xdf: // map 16, 32
		return kMap, 0, 2 << (c - 0xde)
	}
	return kInvalid, 0, 0
}

// read reads a big-endian unsigned integer of size bytes (1, 2 or 4).
func (s *scanner) read(size int) (uint64, error) {
	if len(s.b)-s.off < size {
		return 0, fmt.Errorf("value cut short at offset %d", s.off)
	}
	b := s.b[s.off : s.off+size]
	s.off += size
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	}
	return uint64(binary.BigEndian.Uint32(b)), nil
}

// skip steps over n bytes of the value that starts at offset at.
func (s *scanner) skip(at int, n uint64) error {
	if n > s.rest() {
		return fmt.Errorf("value at offset %d claims %d bytes, %d are left", at, n, s.rest())
	}
	s.off += int(n)
	return s.fits(at)
}

// open starts a container of n entries of per values each.
func (s *scanner) open(at int, n, per uint64) error {
	if s.depth >= MaxDepth {
		return fmt.Errorf("%w: containers nested deeper than %d at offset %d", ErrLimit, MaxDepth, at)
	}
	if n > s.rest()/per {
		return fmt.Errorf("container at offset %d claims %d entries, %d bytes are left", at, n, s.rest())
	}
	if n == 0 {
		return nil
	}
	s.depth++
	s.left[s.depth] = n * per
	s.pending += n * per
	return s.fits(at)
}

// fits checks that the values still to read can each have at least one of
// the bytes left: a length that lies fails here, at the value that tells
// it, rather than where the payload runs out.
func (s *scanner) fits(at int) error {
	if s.pending > s.rest() {
		return fmt.Errorf("value at offset %d leaves %d values to read in %d bytes", at, s.pending, s.rest())
	}
	return nil
}

// rest is the number of bytes not read yet.
func (s *scanner) rest() uint64 { return uint64(len(s.b) - s.off) }
