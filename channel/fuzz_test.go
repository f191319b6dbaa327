package channel

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// recvErrors are the errors Recv may return: the package's sentinels and
// what a stream that ends early says.
var recvErrors = []error{io.EOF, io.ErrUnexpectedEOF, ErrFrameTooLarge, ErrMalformed, ErrUnknownType}

// checkRecvError fails unless err is one of recvErrors.
func checkRecvError(t *testing.T, err error) {
	t.Helper()
	for _, want := range recvErrors {
		if errors.Is(err, want) {
			return
		}
	}
	t.Fatalf("Recv = %v, which is none of the channel's errors", err)
}

// addSeeds seeds f with spec.md's frames and a message of every type with
// its fields set, alone and as one session: valid messages lead the
// fuzzer into the decoder, where random bytes rarely get.
func addSeeds(f *testing.F, payloadOnly bool) {
	var frames [][]byte
	for _, b := range specFrames(f) {
		frames = append(frames, b)
	}
	for _, m := range append(roundTripMessages(), longJournal(2)) {
		b, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		frames = append(frames, b)
	}
	for _, b := range frames {
		if payloadOnly {
			b = b[4:]
		}
		f.Add(b)
	}
	if !payloadOnly {
		f.Add(bytes.Join(frames, nil))
	}
}

// FuzzRecv feeds a stream of arbitrary bytes to Recv until it fails: it
// must not panic, must fail with one of the channel's errors, and must
// keep failing once it has.
func FuzzRecv(f *testing.F) {
	addSeeds(f, false)
	f.Add(withHeader(underUnknownKey(nestedArrays(MaxDepth + 8))))
	f.Fuzz(func(t *testing.T, stream []byte) {
		c := New(readOnly{bytes.NewReader(stream)})
		// A frame is at least 5 bytes, so the stream holds at most
		// len/5 messages before it ends.
		for range len(stream)/5 + 1 {
			if _, err := c.Recv(); err != nil {
				checkRecvError(t, err)
				if _, again := c.Recv(); again != err {
					t.Fatalf("Recv after %v = %v", err, again)
				}
				return
			}
		}
		t.Fatalf("Recv read more messages than %d bytes can hold", len(stream))
	})
}

// FuzzDecode decodes one arbitrary payload. Besides not panicking, it
// checks the scanner against msgpack's own reading of the payload, and
// that a message that decodes encodes again to one that decodes the same.
func FuzzDecode(f *testing.F) {
	addSeeds(f, true)
	f.Add(underUnknownKey(nestedArrays(MaxDepth + 8)))
	f.Add(runWithJournal([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x80}))
	// One Conn serves every input: decode uses only its decoder, and a
	// fuzzing process runs one input at a time.
	c := New(readOnly{bytes.NewReader(nil)})
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkScanAgrees(t, payload)
		m, err := c.decode(payload)
		if err != nil {
			checkRecvError(t, err)
			return
		}
		first, ok := canonical(t, m)
		if !ok {
			return
		}
		again, err := c.decode(first)
		if err != nil {
			t.Fatalf("a decoded message, encoded again, does not decode: %v\n% x", err, first)
		}
		if second, _ := canonical(t, again); !bytes.Equal(first, second) {
			t.Fatalf("a message changes when encoded and decoded again:\n% x\n% x", first, second)
		}
	})
}

// checkScanAgrees checks scan against msgpack's decoder skipping the
// payload: where the scanner sees one whole value, the decoder must read
// one and end there, and the scanner may refuse what the decoder reads
// only for a limit. Only small payloads are skipped, since the decoder
// recurses once per level of nesting.
func checkScanAgrees(t *testing.T, payload []byte) {
	t.Helper()
	scanErr := scan(payload)
	if errors.Is(scanErr, ErrLimit) || len(payload) > 4096 {
		return
	}
	r := bytes.NewReader(payload)
	skipErr := msgpack.NewDecoder(r).Skip()
	if skipErr == nil && r.Len() > 0 {
		skipErr = errors.New("bytes follow the value")
	}
	if (scanErr == nil) != (skipErr == nil) {
		t.Fatalf("scan = %v, but msgpack's Skip = %v\n% x", scanErr, skipErr, payload)
	}
}

// canonical encodes m with its map keys sorted, so that two encodings of
// one message are the same bytes, and returns the payload. A message
// decoded within the limits may grow past them when its missing fields
// are encoded; ok is false then.
func canonical(t *testing.T, m *Message) (payload []byte, ok bool) {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.SetSortMapKeys(true)
	b, err := frame(&buf, enc, m)
	if errors.Is(err, ErrLimit) || errors.Is(err, ErrFrameTooLarge) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("encode a decoded message: %v", err)
	}
	return b[4:], true
}
