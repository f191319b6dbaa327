package channel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// pipe returns two connected Conns over net.Pipe.
func pipe(tb testing.TB) (*Conn, *Conn) {
	tb.Helper()
	a, b := net.Pipe()
	ca, cb := New(a), New(b)
	tb.Cleanup(func() { ca.Close(); cb.Close() })
	return ca, cb
}

// rawPipe returns a Conn and the raw other end, for writing bad frames.
func rawPipe(tb testing.TB) (*Conn, net.Conn) {
	tb.Helper()
	a, b := net.Pipe()
	c := New(a)
	tb.Cleanup(func() { c.Close(); b.Close() })
	return c, b
}

// roundTripTests are messages of every type, with their bodies' fields
// set.
func roundTripTests() []struct {
	name string
	msg  *Message
} {
	started := time.Date(2026, 11, 21, 10, 0, 0, 0, time.Local) // msgpack decodes times as Local
	return []struct {
		name string
		msg  *Message
	}{
		{"hello", &Message{Type: THello, Hello: &Hello{
			Version: Version, Node: "node1", Params: map[string]string{"venv": "venvs/app"},
			Bundle: ".conc-bundle", LockMode: LockOpen, Sudo: []byte("pw"),
			Lock: &Record{DeployID: "d1", Holder: "ops@ws", PID: 42, Started: started},
		}}},
		{"attach", &Message{Type: THello, Hello: &Hello{
			Version: Version, Node: "node1", Bundle: ".conc-bundle", LockMode: LockAttach,
			Lock:   &Record{DeployID: "d1", Holder: "ops@ws", PID: 42, Started: started},
			Expect: &Expect{DeployID: "d1", Session: "5e55"},
		}}},
		{"ready", &Message{Type: TReady, Ready: &Ready{Version: Version, Agent: "ab", Status: "BLOCKED", Locked: true, Live: true,
			Lock: &Record{DeployID: "d0", Session: "5e55", Journal: []Entry{{Step: 1, Op: "open_bundle", Status: "OK"}}}}}},
		{"fence", &Message{Type: TFence, Fence: &Fence{ID: 8}}},
		{"run", &Message{Type: TRun, Run: &Run{ID: 7, Step: 7, Op: "run", Args: []string{"echo", "hi"}, Timeout: int64(time.Second)}}},
		{"cancel", &Message{Type: TCancel, Cancel: &Cancel{ID: 7}}},
		{"output", &Message{Type: TOutput, Output: &Output{ID: 7, Stream: Stdout, Data: []byte("x\x00y")}}},
		{"result", &Message{Type: TResult, Result: &Result{ID: 7, Status: "FAILED", ExitCode: 3, Output: []byte("tail")}}},
		{"bye", &Message{Type: TBye, Bye: &Bye{Reason: "done"}}},
	}
}

// roundTripMessages are roundTripTests' messages.
func roundTripMessages() []*Message {
	var msgs []*Message
	for _, tt := range roundTripTests() {
		msgs = append(msgs, tt.msg)
	}
	return msgs
}

func TestRoundTrip(t *testing.T) {
	a, b := pipe(t)
	for _, tt := range roundTripTests() {
		t.Run(tt.name, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() { errc <- a.Send(tt.msg) }()
			got, err := b.Recv()
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("Send: %v", err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Errorf("got %+v, want %+v", got, tt.msg)
			}
		})
	}
}

// writeFrame writes a frame whose header says n and whose body is body.
func writeFrame(w io.Writer, n uint32, body []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], n)
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

func encode(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestBadFrames(t *testing.T) {
	valid := encode(t, &Message{Type: TCancel, Cancel: &Cancel{ID: 1}})
	tests := []struct {
		name    string
		write   func(w net.Conn)
		wantErr error
	}{
		{"truncated header", func(w net.Conn) { w.Write([]byte{0, 0}); w.Close() }, io.ErrUnexpectedEOF},
		{"truncated body", func(w net.Conn) {
			writeFrame(w, uint32(len(valid)), valid[:len(valid)-2])
			w.Close()
		}, io.ErrUnexpectedEOF},
		{"oversized", func(w net.Conn) { writeFrame(w, MaxFrame+1, nil) }, ErrFrameTooLarge},
		{"empty", func(w net.Conn) { writeFrame(w, 0, nil) }, ErrMalformed},
		{"unknown type", func(w net.Conn) {
			b := encode(t, map[string]any{"t": "launch", "launch": map[string]any{}})
			writeFrame(w, uint32(len(b)), b)
		}, ErrUnknownType},
		{"body missing", func(w net.Conn) {
			b := encode(t, map[string]any{"t": "run"})
			writeFrame(w, uint32(len(b)), b)
		}, ErrMalformed},
		{"not msgpack", func(w net.Conn) { writeFrame(w, 3, []byte{0xc1, 0xc1, 0xc1}) }, ErrMalformed},
		{"wrong body shape", func(w net.Conn) {
			b := encode(t, map[string]any{"t": "run", "run": "seven"})
			writeFrame(w, uint32(len(b)), b)
		}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, w := rawPipe(t)
			go tt.write(w)
			m, err := c.Recv()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Recv = %+v, %v; want error %v", m, err, tt.wantErr)
			}
		})
	}
}

func TestCleanEOF(t *testing.T) {
	c, w := rawPipe(t)
	w.Close()
	if _, err := c.Recv(); err != io.EOF {
		t.Fatalf("Recv at end of stream = %v, want io.EOF", err)
	}
}

func TestSendRejects(t *testing.T) {
	a, _ := pipe(t)
	tests := []struct {
		name    string
		msg     *Message
		wantErr error
	}{
		{"unknown type", &Message{Type: "launch"}, ErrUnknownType},
		{"body missing", &Message{Type: TRun}, ErrMalformed},
		{"too large", &Message{Type: TOutput, Output: &Output{Data: make([]byte, MaxFrame)}}, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Send(tt.msg); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Send = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestConcurrentSend checks that frames sent from several goroutines arrive
// whole.
func TestConcurrentSend(t *testing.T) {
	a, b := pipe(t)
	const senders, each = 8, 50
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				data := bytes.Repeat([]byte{byte(s)}, 1000+i)
				if err := a.Send(&Message{Type: TOutput, Output: &Output{ID: uint32(s), Data: data}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range senders * each {
		m, err := b.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range m.Output.Data {
			if c != byte(m.Output.ID) {
				t.Fatalf("frame from sender %d holds a byte from sender %d", m.Output.ID, c)
			}
		}
	}
	wg.Wait()
}

func TestCheckVersion(t *testing.T) {
	if err := CheckVersion(Version); err != nil {
		t.Errorf("CheckVersion(%d) = %v", Version, err)
	}
	if err := CheckVersion(Version + 1); !errors.Is(err, ErrVersion) {
		t.Errorf("CheckVersion(%d) = %v, want ErrVersion", Version+1, err)
	}
}

// TestEncodeIsSendsFrame checks that a frame made ahead with Encode is the
// frame Send writes, so either can start a session.
func TestEncodeIsSendsFrame(t *testing.T) {
	m := &Message{Type: TRun, Run: &Run{ID: 3, Op: "ping", Timeout: 5}}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	buf := &bufConn{}
	if err := New(buf).Send(m); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, buf.Bytes()) {
		t.Errorf("Encode = %x, Send wrote %x", b, buf.Bytes())
	}
}

// TestWholeFrames: a run of whole frames passes; one that ends inside a
// header or a payload, or announces a frame past MaxFrame, does not.
func TestWholeFrames(t *testing.T) {
	hello, err := Encode(&Message{Type: THello, Hello: &Hello{Version: Version}})
	if err != nil {
		t.Fatal(err)
	}
	two := append(append([]byte{}, hello...), hello...)
	huge := []byte{0x01, 0x00, 0x00, 0x01} // MaxFrame + 1
	for _, c := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"none", nil, true},
		{"one", hello, true},
		{"two", two, true},
		{"cut in a header", two[:len(hello)+2], false},
		{"cut in a payload", two[:len(two)-1], false},
		{"past MaxFrame", append(huge, make([]byte, 8)...), false},
	} {
		if got := WholeFrames(c.b); got != c.want {
			t.Errorf("%s: WholeFrames = %v, want %v", c.name, got, c.want)
		}
	}
}
