package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
)

// sendAhead sends runs as one run-ahead group, without waiting, on a
// goroutine of its own: net.Pipe holds nothing, so the agent's answers
// must be read while the group is still being written. The channel it
// returns is closed once every run is written.
func sendAhead(t *testing.T, c *channel.Conn, first uint32, cmds ...string) <-chan struct{} {
	t.Helper()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i, cmd := range cmds {
			id := first + uint32(i)
			if err := c.Send(&channel.Message{Type: channel.TRun, Run: &channel.Run{ID: id, Step: int(id), Op: "run", Args: []string{cmd}, Chain: first}}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	t.Cleanup(func() { <-sent })
	return sent
}

// results reads n results, in the order they come.
func results(t *testing.T, c *channel.Conn, n int) []*channel.Result {
	t.Helper()
	var out []*channel.Result
	for len(out) < n {
		m, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == channel.TResult {
			out = append(out, m.Result)
		}
	}
	return out
}

func outcome(rs []*channel.Result) string {
	var b []string
	for _, r := range rs {
		s := r.Status
		if r.Dropped {
			s = "dropped"
		}
		b = append(b, s)
	}
	return strings.Join(b, " ")
}

// TestRunAhead: a group's jobs run in order, each after the one before it
// ended OK; after one that is not OK the rest never start and are each
// answered as dropped, as are those a cancel drops. Repeated, since the
// jobs arrive while others run, on whichever goroutine reads.
func TestRunAhead(t *testing.T) {
	t.Parallel()
	for round := range 20 {
		c, home, _ := session(t)
		roundTrip(t, c, hello(channel.LockNone, ""))
		log := filepath.Join(home, "ran")
		mark := func(s string) string { return "echo " + s + " >> " + log }

		// A failure in the middle: 3 and 4 never start.
		sendAhead(t, c, 1, mark("1"), mark("2")+"; exit 1", mark("3"), mark("4"))
		if got := outcome(results(t, c, 4)); got != "OK FAILED dropped dropped" {
			t.Fatalf("round %d: results %s", round, got)
		}
		if b, _ := os.ReadFile(log); string(b) != "1\n2\n" {
			t.Fatalf("round %d: ran %q, want 1 and 2 only", round, b)
		}

		// All OK, in order, with a slow one among them.
		os.Remove(log)
		sendAhead(t, c, 10, mark("a"), "sleep 0.01; "+mark("b"), mark("c"))
		if got := outcome(results(t, c, 3)); got != "OK OK OK" {
			t.Fatalf("round %d: results %s", round, got)
		}
		if b, _ := os.ReadFile(log); string(b) != "a\nb\nc\n" {
			t.Fatalf("round %d: ran %q, want a, b, c in order", round, b)
		}

		// Cancel the second while it runs: it is STOPPED, the third is
		// dropped, never started.
		os.Remove(log)
		gate := filepath.Join(home, "gate")
		sendAhead(t, c, 20, mark("x"), mark("y")+"; echo > "+gate+"; exec sleep 300", mark("z"))
		// The pipe holds nothing: x's result is read before y can start.
		first := results(t, c, 1)
		waitForFile(t, gate)
		if err := c.Send(&channel.Message{Type: channel.TCancel, Cancel: &channel.Cancel{ID: 21, Chain: 20}}); err != nil {
			t.Fatal(err)
		}
		if got := outcome(append(first, results(t, c, 2)...)); got != "OK "+string(jobs.Stopped)+" dropped" {
			t.Fatalf("round %d: results %s", round, got)
		}
		if b, _ := os.ReadFile(log); string(b) != "x\ny\n" {
			t.Fatalf("round %d: ran %q, want x and y only", round, b)
		}

		// Drop from the third while the second runs: the second ends as
		// it would, the third and fourth never start.
		os.Remove(log)
		os.Remove(gate)
		release := filepath.Join(home, "release")
		sendAhead(t, c, 30, mark("p"), mark("q")+"; echo > "+gate+"; while [ ! -e "+release+" ]; do sleep 0.005; done", mark("r"), mark("s"))
		first = results(t, c, 1)
		waitForFile(t, gate)
		if err := c.Send(&channel.Message{Type: channel.TCancel, Cancel: &channel.Cancel{ID: 32, Chain: 30, Drop: true}}); err != nil {
			t.Fatal(err)
		}
		// The drop is read while the job runs; a fence answered after it
		// shows it was.
		if r := roundTrip(t, c, &channel.Message{Type: channel.TFence, Fence: &channel.Fence{ID: 99}}); r.Type != channel.TResult || r.Result.ID != 99 {
			t.Fatalf("round %d: fence: %+v", round, r)
		}
		os.WriteFile(release, nil, 0o600)
		if got := outcome(append(first, results(t, c, 3)...)); got != "OK OK dropped dropped" {
			t.Fatalf("round %d: results %s", round, got)
		}
		if b, _ := os.ReadFile(log); string(b) != "p\nq\n" {
			t.Fatalf("round %d: ran %q, want p and q only", round, b)
		}
		os.Remove(release)
		os.Remove(gate)
		c.Close()
	}
}

// TestRunAheadChannelCut: the controller's end goes away while a group's
// job runs (conc killed, the link cut): the job is killed and the jobs
// queued behind it never start, even when the running one ends OK at that
// very moment.
func TestRunAheadChannelCut(t *testing.T) {
	t.Parallel()
	for round := range 20 {
		c, home, errc := session(t)
		roundTrip(t, c, hello(channel.LockNone, ""))
		gate, later := filepath.Join(home, "gate"), filepath.Join(home, "later")
		// The first job ends on its own as soon as the channel is cut: a
		// job that ends OK then is the worst case for the queue.
		sent := sendAhead(t, c, 1, "echo > "+gate+"; sleep 0.05", "echo > "+later, "echo > "+later)
		waitForFile(t, gate)
		<-sent // the agent has read them all: they are queued
		c.Close()
		if err := <-errc; err != nil {
			t.Fatalf("round %d: Serve: %v", round, err)
		}
		if _, err := os.Stat(later); err == nil {
			t.Fatalf("round %d: a job queued behind the cut ran", round)
		}
	}
}
