package agent

import (
	"context"
	"net"
	"testing"

	"github.com/concdeploy/conc/channel"
)

// BenchmarkPing measures a ping job through the agent over net.Pipe, with
// the lock record kept: the agent's share of the per-job overhead.
func BenchmarkPing(b *testing.B) {

	x, y := net.Pipe()
	ag := New(y, testOptions(b.TempDir()))
	done := make(chan error, 1)
	go func() { done <- ag.Serve(context.Background()) }()
	c := channel.New(x)
	defer func() { c.Close(); <-done }()
	if err := c.Send(hello(channel.LockOpen, "d1")); err != nil {
		b.Fatal(err)
	}
	if m, err := c.Recv(); err != nil || m.Ready.Status != "OK" {
		b.Fatalf("ready: %v %v", m, err)
	}
	run := &channel.Message{Type: channel.TRun, Run: &channel.Run{Op: "ping"}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		run.Run.ID = uint32(i + 1)
		if err := c.Send(run); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
