package channel

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// bufConn gives a bytes.Buffer the Close a Conn needs.
type bufConn struct{ bytes.Buffer }

func (*bufConn) Close() error { return nil }

var (
	benchRun    = &Message{Type: TRun, Run: &Run{ID: 1234, Step: 12, Op: "ping"}}
	benchResult = &Message{Type: TResult, Result: &Result{ID: 1234, Status: "OK", Duration: 1500}}
)

// BenchmarkEncodeDecode measures one run and one result through a Conn,
// without any transport in between.
func BenchmarkEncodeDecode(b *testing.B) {
	buf := &bufConn{}
	c := New(buf)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Send(benchRun); err != nil {
			b.Fatal(err)
		}
		if err := c.Send(benchResult); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Recv(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripPipe measures a run answered by a result over net.Pipe,
// the channel's cost without SSH.
func BenchmarkRoundTripPipe(b *testing.B) {
	x, y := net.Pipe()
	ctl, agent := New(x), New(y)
	defer ctl.Close()
	go func() {
		for {
			m, err := agent.Recv()
			if err != nil {
				return
			}
			res := &Message{Type: TResult, Result: &Result{ID: m.Run.ID, Status: "OK"}}
			if agent.Send(res) != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if err := ctl.Send(benchRun); err != nil {
			b.Fatal(err)
		}
		if _, err := ctl.Recv(); err != nil && err != io.EOF {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan measures the limits' check of a run and a result, which
// every frame pays twice: once sent, once received.
func BenchmarkScan(b *testing.B) {
	var payloads [][]byte
	for _, m := range []*Message{benchRun, benchResult} {
		f, err := Encode(m)
		if err != nil {
			b.Fatal(err)
		}
		payloads = append(payloads, f[4:])
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range payloads {
			if err := scan(p); err != nil {
				b.Fatal(err)
			}
		}
	}
}
