package channel

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// withHeader puts a frame's length in front of payload.
func withHeader(payload []byte) []byte { return cat(be32(len(payload)), payload) }

// filledFrame is a frame of exactly MaxFrame payload bytes: prefix, then
// an array32 of as many copies of elem as fit.
func filledFrame(prefix []byte, elem byte) []byte {
	n := MaxFrame - len(prefix) - 5
	return withHeader(cat(prefix, arrayOf(n, []byte{elem})))
}

// runWithJournal is a run message whose journal is the given msgpack
// value: a field the decoder fills, rather than skips.
func runWithJournal(journal []byte) []byte {
	return cat([]byte{0x82, 0xa1, 't', 0xa3}, []byte("run"), []byte{0xa3}, []byte("run"),
		[]byte{0x83, 0xa2, 'i', 'd', 0x01, 0xa2, 'o', 'p', 0xa1, 'x', 0xa7}, []byte("journal"), journal)
}

// deepFrame is the frame from the adversarial test: 16 MiB of nested
// arrays under a key no version knows. Before the limits, decoding it
// overflowed the stack, which crashes the whole process.
func deepFrame() []byte {
	prefix := underUnknownKey(nil)
	return withHeader(cat(prefix, nestedArrays(MaxFrame-len(prefix))))
}

// memGrowth runs f and returns what it allocated on the heap plus what the
// goroutine stacks grew by: msgpack's decoder recurses once per level of
// nesting, on the stack, which TotalAlloc does not count.
func memGrowth(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	grew := after.TotalAlloc - before.TotalAlloc
	if after.StackInuse > before.StackInuse {
		grew += after.StackInuse - before.StackInuse
	}
	return grew
}

// TestRecvBoundsHostileFrames sends frames built to exhaust the receiver
// and checks that Recv refuses each one as malformed, at the cost of
// reading it: at most twice the frame, never what the frame describes.
func TestRecvBoundsHostileFrames(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		name      string
		stream    []byte
		wantErr   error
		maxGrowth uint64
	}{
		// Before the limits: a stack overflow, a fatal error.
		{"16 MiB of nested arrays under an unknown key", deepFrame(), ErrLimit, 64 * MiB},
		// Cheap to skip, but past the values limit all the same.
		{"16 MiB of nils under an unknown key", filledFrame(underUnknownKey(nil), 0xc0), ErrLimit, 64 * MiB},
		// Before: 16 million decoded journal entries, 1.8 GB.
		{"a journal of 16 MiB of empty entries", filledFrame(runWithJournal(nil), 0x80), ErrLimit, 64 * MiB},
		// Before: the decoder made a slice of the count it was told,
		// 4 billion entries, 480 GB.
		{"a journal that claims 4G entries", withHeader(runWithJournal([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x80})), ErrMalformed, 1 * MiB},
		// The payload buffer grows as bytes arrive, not to the promise.
		{"a header that promises 16 MiB, then stops", cat(be32(MaxFrame), []byte{0x81}), io.ErrUnexpectedEOF, 1 * MiB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w := rawPipe(t)
			go func() {
				w.Write(tt.stream)
				w.Close()
			}()
			var err error
			grew := memGrowth(func() { _, err = c.Recv() })
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Recv = %v, want %v", err, tt.wantErr)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Recv = %v, want it to wrap ErrMalformed", err)
			}
			t.Logf("grew %d KiB", grew>>10)
			if grew > tt.maxGrowth {
				t.Errorf("Recv of a %d-byte stream took %d MiB, want at most %d MiB", len(tt.stream), grew>>20, tt.maxGrowth>>20)
			}
		})
	}
}

// TestRecvFailsForGood checks what a Conn is after a frame fails: Recv
// returns the same error from then on, without reading, even though a
// valid frame follows; Send still works, so that a side can say bye.
func TestRecvFailsForGood(t *testing.T) {
	valid, err := Encode(&Message{Type: TCancel, Cancel: &Cancel{ID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	buf := &bufConn{}
	buf.Write(withHeader(underUnknownKey(nestedArrays(MaxDepth))))
	buf.Write(valid)
	c := New(buf)
	_, first := c.Recv()
	if !errors.Is(first, ErrMalformed) || !errors.Is(first, ErrLimit) {
		t.Fatalf("Recv = %v, want ErrMalformed and ErrLimit", first)
	}
	for range 2 {
		if m, err := c.Recv(); err != first {
			t.Fatalf("Recv after a failed frame = %+v, %v; want %v again", m, err, first)
		}
	}
	if err := c.Send(&Message{Type: TBye, Bye: &Bye{Reason: "malformed frame"}}); err != nil {
		t.Errorf("Send after a failed Recv = %v", err)
	}
}

// TestHostilePeerFailsOnlyItsConn runs a job on four nodes at once, the
// way the controller fans out, where one node answers with the 16 MiB
// nested frame. That node's Recv fails, as the agent client turns into an
// ERROR for that node; the process lives on, and the other nodes get
// their results.
func TestHostilePeerFailsOnlyItsConn(t *testing.T) {
	const nodes, hostile = 4, 2
	deep := deepFrame()
	got := make([]string, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		ctl, raw := rawPipe(t)
		wg.Go(func() { serveOne(t, New(raw), raw, i == hostile, deep) })
		wg.Go(func() { got[i] = runOne(ctl) })
	}
	wg.Wait()
	for i, g := range got {
		want := "OK"
		if i == hostile {
			want = "ERROR"
		}
		if !strings.HasPrefix(g, want) {
			t.Errorf("node %d: %s, want %s", i, g, want)
		}
	}
	if !strings.Contains(got[hostile], ErrMalformed.Error()) {
		t.Errorf("node %d: %s, want a malformed message", hostile, got[hostile])
	}
}

// serveOne is an agent that answers one run, or, when hostile, sends the
// frame deep instead.
func serveOne(t *testing.T, agent *Conn, raw io.Writer, hostile bool, deep []byte) {
	m, err := agent.Recv()
	if err != nil {
		t.Error(err)
		return
	}
	if hostile {
		raw.Write(deep)
		return
	}
	agent.Send(&Message{Type: TResult, Result: &Result{ID: m.Run.ID, Status: "OK"}})
}

// runOne sends a job and says what came back, as the agent client would
// report it.
func runOne(ctl *Conn) string {
	if err := ctl.Send(&Message{Type: TRun, Run: &Run{ID: 1, Op: "ping"}}); err != nil {
		return fmt.Sprintf("ERROR: %v", err)
	}
	m, err := ctl.Recv()
	if err != nil {
		return fmt.Sprintf("ERROR: %v", err)
	}
	return m.Result.Status
}

// TestRecvWorstWithinLimits decodes the frame within the limits that costs
// the most to decode: a journal of empty entries, one byte each on the
// wire and 112 bytes each decoded, as many as MaxValues allows. It is a
// valid message, and it must cost no more than MaxValues promises.
func TestRecvWorstWithinLimits(t *testing.T) {
	head := runWithJournal(nil)
	n := MaxValues - 11 // the run message around the journal holds 11 values
	stream := withHeader(cat(head, arrayOf(n, []byte{0x80})))
	c, w := rawPipe(t)
	go w.Write(stream)
	var m *Message
	var err error
	grew := memGrowth(func() { m, err = c.Recv() })
	if err != nil {
		t.Fatalf("Recv = %v", err)
	}
	if len(m.Run.Journal) != n {
		t.Fatalf("journal of %d entries, want %d", len(m.Run.Journal), n)
	}
	t.Logf("grew %d KiB", grew>>10)
	if grew > 64<<20 {
		t.Errorf("Recv of a %d-byte frame took %d MiB, want at most 64 MiB", len(stream), grew>>20)
	}
}
