package agent

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
)

// agentAt starts an agent over net.Pipe whose home is home, and returns
// the controller's end; the agent ends when the test does.
func agentAt(t *testing.T, home string) *channel.Conn {
	c, _ := agentStop(t, home)
	return c
}

// agentStop is agentAt that also returns a func that closes the channel
// and waits for the agent to have let go of everything.
func agentStop(t *testing.T, home string) (*channel.Conn, func()) {
	t.Helper()
	a, b := net.Pipe()
	ag := New(b, testOptions(home))
	done := make(chan struct{})
	go func() {
		ag.Serve(context.Background())
		close(done)
	}()
	c := channel.New(a)
	stop := func() { c.Close(); <-done; forksSettled() }
	t.Cleanup(stop)
	return c, stop
}

// writeRecord puts a lock record into a bundle made by hand.
func writeRecord(t *testing.T, dir string, rec bundle.Lock) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := rec.Marshal()
	if err := os.WriteFile(filepath.Join(dir, bundle.LockFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAttachRace starts two attaches of one stopped run at once, many
// times: every round exactly one joins the bundle, and the other is
// BLOCKED naming the live holder.
func TestAttachRace(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	dir := filepath.Join(home, ".conc-bundle")
	for round := range 50 {
		// Each round starts from the record as a stopped run left it.
		writeRecord(t, dir, bundle.Lock{DeployID: "d1", Holder: "ops@ws", Session: "s0"})
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[string]int{}
		var messages []string
		var stops []func()
		start := make(chan struct{})
		for range 2 {
			c, stop := agentStop(t, home)
			stops = append(stops, stop)
			wg.Go(func() {
				m := hello(channel.LockAttach, "d1")
				m.Hello.Expect = &channel.Expect{DeployID: "d1", Session: "s0"}
				<-start
				if err := c.Send(m); err != nil {
					t.Error(err)
					return
				}
				r, err := c.Recv()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				statuses[r.Ready.Status]++
				messages = append(messages, r.Ready.Status+": "+r.Ready.Message)
				mu.Unlock()
				if r.Ready.Status == "BLOCKED" && (r.Ready.Lock == nil || r.Ready.Lock.Holder != "ops@ws") {
					t.Errorf("BLOCKED without naming the holder: %+v", r.Ready)
				}
			})
		}
		close(start)
		wg.Wait()
		if statuses["OK"] != 1 || statuses["BLOCKED"] != 1 {
			t.Fatalf("round %d: attaches ended %v, want exactly one OK and one BLOCKED: %q", round, statuses, messages)
		}
		for _, stop := range stops {
			stop()
		}
	}
}

// TestFence moves a live run's bundle aside and puts another run's in its
// place: the first run's next job is an ERROR that runs nothing, its
// journal and record never reach the new bundle, and its close_bundle
// removes nothing.
func TestFence(t *testing.T) {
	t.Parallel()
	c, home, errc := session(t)
	if r := roundTrip(t, c, hello(channel.LockOpen, "A")); r.Ready.Status != "OK" {
		t.Fatalf("open: %+v", r.Ready)
	}
	dir := filepath.Join(home, ".conc-bundle")
	if err := os.Rename(dir, filepath.Join(home, "moved")); err != nil {
		t.Fatal(err)
	}
	writeRecord(t, dir, bundle.Lock{DeployID: "B", Holder: "bob@ws", Session: "b0"})
	before := listDir(t, dir)
	marker := filepath.Join(home, "ran")
	for i, op := range []string{"run", "close_bundle"} {
		var args []string
		if op == "run" {
			args = []string{"pwd > " + marker}
		}
		res := roundTrip(t, c, &channel.Message{Type: channel.TRun, Run: &channel.Run{ID: uint32(i + 1), Step: i + 2, Op: op, Args: args,
			Journal: []channel.Entry{{Step: 9, Op: "put", Status: "OK"}}}})
		if res.Result.Status != string(jobs.Error) || !strings.Contains(res.Result.Message, "another directory") {
			t.Errorf("%s after the bundle was replaced: %+v, want ERROR saying so", op, res.Result)
		}
	}
	f := roundTrip(t, c, &channel.Message{Type: channel.TFence, Fence: &channel.Fence{ID: 7}})
	if f.Result == nil || f.Result.ID != 7 || f.Result.Status != string(jobs.Error) {
		t.Errorf("fence = %+v, want ERROR for id 7", f.Result)
	}
	roundTrip(t, c, &channel.Message{Type: channel.TBye, Bye: &channel.Bye{Journal: []channel.Entry{{Step: 10, Op: "put", Status: "OK"}}}})
	<-errc
	if exists(marker) {
		t.Error("a job ran although its bundle was gone")
	}
	if after := listDir(t, dir); after != before {
		t.Errorf("the lost run wrote into the new bundle:\nbefore %s\nafter  %s", before, after)
	}
}

// TestCloseBundleRemovesOwn: close_bundle removes the bundle it holds and
// frees the path.
func TestCloseBundleRemovesOwn(t *testing.T) {
	t.Parallel()
	c, home, _ := session(t)
	roundTrip(t, c, hello(channel.LockOpen, "A"))
	res := roundTrip(t, c, &channel.Message{Type: channel.TRun, Run: &channel.Run{ID: 1, Step: 2, Op: "close_bundle"}})
	if res.Result.Status != "OK" {
		t.Fatalf("close_bundle: %+v", res.Result)
	}
	left, _ := filepath.Glob(filepath.Join(home, ".conc-bundle*"))
	if len(left) != 0 {
		t.Errorf("left after close_bundle: %v", left)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestUnlock covers conc unlock's node side: it removes only the lock the
// operator confirmed, refuses a live one without force, and removes a
// link at the bundle's path without following it.
func TestUnlock(t *testing.T) {
	t.Parallel()
	unlock := func(t *testing.T, home string, want *channel.Expect) *channel.Ready {
		t.Helper()
		m := hello(channel.LockUnlock, "")
		m.Hello.Expect = want
		return roundTrip(t, agentAt(t, home), m).Ready
	}
	t.Run("confirmed", func(t *testing.T) {
		home := t.TempDir()
		writeRecord(t, filepath.Join(home, ".conc-bundle"), bundle.Lock{DeployID: "d1", Session: "s1", Holder: "h"})
		if r := unlock(t, home, &channel.Expect{DeployID: "d1", Session: "s1"}); r.Status != "OK" {
			t.Fatalf("ready %+v", r)
		}
		if left, _ := filepath.Glob(filepath.Join(home, ".conc-bundle*")); len(left) != 0 {
			t.Errorf("left: %v", left)
		}
		if b, _ := os.ReadFile(filepath.Join(home, bundle.CacheDir, "unlocks.log")); !strings.Contains(string(b), `deploy "d1" held by h`) {
			t.Errorf("unlocks.log = %q", b)
		}
	})
	t.Run("changed hands", func(t *testing.T) {
		home := t.TempDir()
		dir := filepath.Join(home, ".conc-bundle")
		writeRecord(t, dir, bundle.Lock{DeployID: "d1", Session: "s2", Holder: "h"})
		before := listDir(t, dir)
		r := unlock(t, home, &channel.Expect{DeployID: "d1", Session: "s1"})
		if r.Status != "BLOCKED" || r.Lock == nil || r.Lock.Session != "s2" {
			t.Fatalf("ready %+v, want BLOCKED with the new record", r)
		}
		if after := listDir(t, dir); after != before {
			t.Errorf("a refused unlock changed the bundle")
		}
	})
	t.Run("live", func(t *testing.T) {
		home := t.TempDir()
		c := agentAt(t, home)
		roundTrip(t, c, hello(channel.LockOpen, "d1"))
		rec := recordAt(t, filepath.Join(home, ".conc-bundle"))
		r := unlock(t, home, &channel.Expect{DeployID: "d1", Session: rec.Session})
		if r.Status != "BLOCKED" || !r.Live {
			t.Fatalf("ready %+v, want BLOCKED, live", r)
		}
		if !exists(filepath.Join(home, ".conc-bundle", bundle.LockFile)) {
			t.Error("a live lock was removed")
		}
	})
	t.Run("dangling link", func(t *testing.T) {
		home := t.TempDir()
		target := filepath.Join(home, "elsewhere")
		os.Symlink(target, filepath.Join(home, ".conc-bundle"))
		insp := roundTrip(t, agentAt(t, home), hello(channel.LockInspect, "")).Ready
		if !insp.Locked || !strings.Contains(insp.Message, "symbolic link") {
			t.Errorf("inspect of a link = %+v, want locked, saying it is a link", insp)
		}
		if r := unlock(t, home, &channel.Expect{}); r.Status != "OK" {
			t.Fatalf("ready %+v", r)
		}
		if exists(filepath.Join(home, ".conc-bundle")) {
			t.Error("the link is still there")
		}
	})
}

// undeletable puts into dir something its owner cannot remove: a mount
// point when running as root (rmdir fails with EBUSY), else a directory
// without write permission holding a file.
func undeletable(t *testing.T, dir string) {
	t.Helper()
	sub := filepath.Join(dir, "stuck")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		os.WriteFile(filepath.Join(sub, "f"), nil, 0o600)
		os.Chmod(sub, 0o500)
		t.Cleanup(func() { os.Chmod(sub, 0o700) })
		return
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", sub).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", sub).Run() })
}

// TestCloseBundleFails: when close_bundle cannot remove everything, the
// bundle goes back to its path with its lock file, record and journal, and
// the agent still holds it; no one else can take it.
func TestCloseBundleFails(t *testing.T) {
	t.Parallel()
	c, home, _ := session(t)
	roundTrip(t, c, hello(channel.LockOpen, "A"))
	dir := filepath.Join(home, ".conc-bundle")
	undeletable(t, dir)
	os.WriteFile(filepath.Join(dir, "product.tar"), []byte("x"), 0o600)
	res := roundTrip(t, c, &channel.Message{Type: channel.TRun, Run: &channel.Run{ID: 1, Step: 2, Op: "close_bundle"}})
	if res.Result.Status != "FAILED" || res.Result.Lost {
		t.Fatalf("close_bundle of a bundle that cannot be removed: %+v", res.Result)
	}
	v := look(dir)
	if !v.locked || !v.live || v.rec == nil || v.rec.DeployID != "A" {
		t.Errorf("after a failed close_bundle: locked %v live %v record %+v; want the bundle back, held, with its record", v.locked, v.live, v.rec)
	}
	if _, err := holdBundle(dir); err != errLive {
		t.Errorf("another agent could take the bundle: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(home, ".*closing*")); len(left) != 0 {
		t.Errorf("left aside: %v", left)
	}
}

// TestEvictWhileBusy evicts an agent (as unlock --force's SIGUSR1 does)
// while its controller keeps sending jobs and fences, at a different point
// in each round. The agent must end, say the run lost the lock, and let go
// of the bundle with the record saying so; go test -race checks that the
// clean-up does not race the jobs.
func TestEvictWhileBusy(t *testing.T) {
	t.Parallel()
	for round := range 30 {
		home := t.TempDir()
		a, b := net.Pipe()
		ag := New(b, testOptions(home))
		ctx, evict := context.WithCancelCause(context.Background())
		served := make(chan struct{})
		go func() { ag.Serve(ctx); close(served) }()
		c := channel.New(a)
		if r := roundTrip(t, c, hello(channel.LockOpen, "d1")); r.Ready.Status != "OK" {
			t.Fatal(r.Ready)
		}
		exchanged := make(chan int, 8)
		lost := make(chan bool, 1)
		go func() {
			defer close(lost)
			for i := uint32(1); ; i++ {
				m := &channel.Message{Type: channel.TRun, Run: &channel.Run{ID: i, Step: 2, Op: "ping"}}
				if i%2 == 0 {
					m = &channel.Message{Type: channel.TFence, Fence: &channel.Fence{ID: i}}
				}
				if c.Send(m) != nil {
					return
				}
				for {
					r, err := c.Recv()
					if err != nil {
						return
					}
					if r.Type == channel.TBye {
						lost <- r.Bye.Lost
						return
					}
					if r.Type == channel.TResult {
						break
					}
				}
				select {
				case exchanged <- int(i):
				default: // the test waits for the first few only
				}
			}
		}()
		for n := 0; n < round%5; n++ {
			<-exchanged
		}
		evict(ErrEvicted)
		select {
		case <-served:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: the evicted agent did not end", round)
		}
		if l, ok := <-lost; !ok || !l {
			t.Errorf("round %d: the evicted agent sent no bye saying the run lost the lock", round)
		}
		c.Close()
		forksSettled()
		dir := filepath.Join(home, ".conc-bundle")
		if v := letGo(dir); v.live || v.rec == nil || v.rec.Detached.IsZero() {
			t.Fatalf("round %d: after eviction: live %v, record %+v; want let go, detached", round, v.live, v.rec)
		}
	}
}
