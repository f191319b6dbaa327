package agent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
)

// session runs an agent over net.Pipe in a temporary home and returns the
// controller's end and a channel that yields Serve's error.
func session(t *testing.T) (*channel.Conn, string, <-chan error) {
	t.Helper()
	home := t.TempDir()
	a, b := net.Pipe()
	ag := New(b, testOptions(home))
	// errc yields Serve's error once, then is closed, so the cleanup can
	// wait for the agent whether or not the test read the error.
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		errc <- ag.Serve(context.Background())
		close(errc)
		close(done)
	}()
	ctl := channel.New(a)
	t.Cleanup(func() { ctl.Close(); <-done })
	return ctl, home, errc
}

func hello(mode, deployID string) *channel.Message {
	return &channel.Message{Type: channel.THello, Hello: &channel.Hello{
		Version: channel.Version, Node: "node1", Bundle: ".conc-bundle", LockMode: mode,
		Lock: &channel.Record{DeployID: deployID, Holder: "ops@ws", Plan: "deploy"},
	}}
}

func roundTrip(t *testing.T, c *channel.Conn, m *channel.Message) *channel.Message {
	t.Helper()
	if err := c.Send(m); err != nil {
		t.Fatal(err)
	}
	r, err := c.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOpenRunBye(t *testing.T) {
	t.Parallel()
	c, home, errc := session(t)
	r := roundTrip(t, c, hello(channel.LockOpen, "d1"))
	if r.Ready.Status != "OK" || r.Ready.Version != channel.Version || len(r.Ready.Agent) != 64 {
		t.Fatalf("ready = %+v", r.Ready)
	}
	dir := filepath.Join(home, ".conc-bundle")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("bundle: %v, mode %v; want a 0700 directory", err, fi.Mode())
	}
	res := roundTrip(t, c, &channel.Message{Type: channel.TRun, Run: &channel.Run{ID: 1, Step: 2, Op: "run", Args: []string{"echo out; exit 3"}}})
	if res.Result.Status != "FAILED" || res.Result.ExitCode != 3 || !strings.Contains(string(res.Result.Output), "out") {
		t.Errorf("result = %+v", res.Result)
	}
	res = roundTrip(t, c, &channel.Message{Type: channel.TRun, Run: &channel.Run{ID: 2, Step: 3, Op: "ping",
		Journal: []channel.Entry{{Step: 1, Op: "open_bundle", Status: "OK"}}}})
	if res.Result.Status != "OK" || res.Result.ID != 2 {
		t.Errorf("ping result = %+v", res.Result)
	}
	bye := roundTrip(t, c, &channel.Message{Type: channel.TBye, Bye: &channel.Bye{}})
	if bye.Type != channel.TBye {
		t.Fatalf("got %s, want bye", bye.Type)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	rec := recordAt(t, dir)
	if rec.DeployID != "d1" || len(rec.Journal) != 3 || rec.Journal[1].Status != "FAILED" {
		t.Errorf("lock record %+v, journal %+v", rec, rec.Journal)
	}
	if rec.Detached.IsZero() || rec.Session == "" || rec.AgentPID != os.Getpid() {
		t.Errorf("lock record %+v: want the agent's pid and session, and detached after bye", rec)
	}
}

// recordAt reads the lock record of the bundle dir, as the agent does.
func recordAt(t *testing.T, dir string) *bundle.Lock {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	rec, err := readRecord(root)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestBlockedChangesNothing(t *testing.T) {
	t.Parallel()
	c, home, errc := session(t)
	dir := filepath.Join(home, ".conc-bundle")
	os.Mkdir(dir, 0o700)
	held := bundle.Lock{DeployID: "other", Holder: "alice@laptop"}
	b, _ := held.Marshal()
	os.WriteFile(filepath.Join(dir, bundle.LockFile), b, 0o600)
	os.WriteFile(filepath.Join(dir, "product.txt"), []byte("keep"), 0o600)
	before := listDir(t, dir)
	r := roundTrip(t, c, hello(channel.LockOpen, "mine"))
	if r.Ready.Status != "BLOCKED" || r.Ready.Lock == nil || r.Ready.Lock.Holder != "alice@laptop" {
		t.Fatalf("ready = %+v", r.Ready)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if after := listDir(t, dir); after != before {
		t.Errorf("bundle changed:\nbefore %s\nafter  %s", before, after)
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			data, _ := os.ReadFile(p)
			b.WriteString(p + " " + fi.Mode().String() + " " + string(data) + "\n")
		}
		return nil
	})
	return b.String()
}

func TestAttach(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		deployID, session string
		want              string
	}{
		{"same deploy and session", "d1", "s0", "OK"},
		{"other deploy", "d2", "s0", "BLOCKED"},
		{"same deploy, another session since", "d1", "s1", "BLOCKED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, home, _ := session(t)
			dir := filepath.Join(home, ".conc-bundle")
			os.Mkdir(dir, 0o700)
			held := bundle.Lock{DeployID: "d1", Holder: "ops@ws", Session: "s0"}
			b, _ := held.Marshal()
			os.WriteFile(filepath.Join(dir, bundle.LockFile), b, 0o600)
			before := listDir(t, dir)
			m := hello(channel.LockAttach, tt.deployID)
			m.Hello.Expect = &channel.Expect{DeployID: tt.deployID, Session: tt.session}
			r := roundTrip(t, c, m)
			if r.Ready.Status != tt.want {
				t.Fatalf("ready %s (%s), want %s", r.Ready.Status, r.Ready.Message, tt.want)
			}
			if tt.want == "BLOCKED" {
				// The live file may be created; nothing else may change.
				os.Remove(filepath.Join(dir, bundle.LiveFile))
				if after := listDir(t, dir); after != before {
					t.Errorf("a refused attach changed the bundle:\nbefore %s\nafter  %s", before, after)
				}
				return
			}
			if rec := recordAt(t, dir); rec.Session == "s0" || rec.Holder != "ops@ws" {
				t.Errorf("after attach the record is %+v, want a new session", rec)
			}
		})
	}
}

func TestVersionMismatch(t *testing.T) {
	t.Parallel()
	c, _, errc := session(t)
	m := hello(channel.LockNone, "")
	m.Hello.Version = channel.Version + 1
	r := roundTrip(t, c, m)
	if r.Ready.Status != "ERROR" || !strings.Contains(r.Ready.Message, "version") {
		t.Errorf("ready = %+v", r.Ready)
	}
	if err := <-errc; err == nil {
		t.Error("Serve returned nil after a version mismatch")
	}
}

func TestCancelAndEOF(t *testing.T) {
	t.Parallel()
	c, home, errc := session(t)
	roundTrip(t, c, hello(channel.LockNone, ""))
	pidFile := filepath.Join(home, "pid")
	run := &channel.Message{Type: channel.TRun, Run: &channel.Run{ID: 1, Op: "run", Args: []string{"echo $$ > " + pidFile + "; exec sleep 300"}}}
	if err := c.Send(run); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, pidFile)
	res := roundTrip(t, c, &channel.Message{Type: channel.TCancel, Cancel: &channel.Cancel{ID: 1}})
	if res.Result.Status != string(jobs.Stopped) {
		t.Errorf("after cancel: %+v", res.Result)
	}
	// A second job, then the channel closes under it: the agent must kill
	// it and return.
	os.Remove(pidFile)
	run.Run.ID = 2
	if err := c.Send(run); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, pidFile)
	pid := readPid(t, pidFile)
	c.Close()
	select {
	case <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not stop when its channel closed")
	}
	if err := processGone(pid); err != nil {
		t.Error(err)
	}
}
