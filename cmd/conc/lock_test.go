package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/internal/smalldisk"
	"github.com/concdeploy/conc/internal/testnode"
)

// These tests try to break the lock's guarantees (docs/stop-and-resume.md,
// "The lock"): one holder under every interleaving, liveness read from the
// node's kernel lock, and a run that lost its bundle stopping before it
// touches another run's.

// gated is a remote job that records that it ran, in $HOME/NAME.ran, and
// then waits for the test to create $HOME/NAME.release. The test, not the
// clock, decides when it ends.
func gated(name string) string {
	return fmt.Sprintf(`remote run "echo %[1]s >> $HOME/%[1]s.ran; while [ ! -e $HOME/%[1]s.release ]; do sleep 0.02; done"`, name)
}

// localGated is gated for a local job, with its files in dir.
func localGated(name, dir string) string {
	ran, rel := filepath.Join(dir, name+".ran"), filepath.Join(dir, name+".release")
	return fmt.Sprintf(`local run "echo %s >> %s; while [ ! -e %s ]; do sleep 0.02; done"`, name, ran, rel)
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitFile waits for path to exist, failing at once if a run in done ends
// first: the run's own progress orders the test, and the bound only keeps
// a broken run from hanging it.
func waitFile(t *testing.T, path string, done ...<-chan result) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if exists(path) {
			return
		}
		for _, d := range done {
			select {
			case r := <-d:
				t.Fatalf("a run ended before %s was written: %s", filepath.Base(path), r)
			default:
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s was not written", path)
}

// within waits for a run to end.
func within(t *testing.T, what string, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not end", what)
	}
	return result{}
}

func (p *project) record(t *testing.T) *bundle.Lock {
	t.Helper()
	rec, err := bundle.ParseLock([]byte(readFile(t, filepath.Join(p.bundleDir(), bundle.LockFile))))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestConcurrentResume starts two --resume of one stopped run together,
// from one state directory and from two (as two workstations would), ten
// rounds each. In every round exactly one attaches: the other ends BLOCKED
// while the winner's resumed step still runs, and the step runs once.
func TestConcurrentResume(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = remote run true\nstep = "+gated("s3")+"\nstep = remote close_bundle\n")
		for _, workstations := range []int{1, 2} {
			for round := range 10 {
				os.Remove(p.nodePath("s3.ran"))
				os.Remove(p.nodePath("s3.release"))
				if r := p.conc("deploy", "node1", "--stop-before", "3"); r.code != 4 {
					t.Fatalf("stop before 3: %s", r)
				}
				other := filepath.Join(p.dir, ".conc", "state")
				if workstations == 2 {
					other = t.TempDir()
				}
				_, a := p.start("deploy", "node1", "--resume")
				_, b := p.start("--state-dir", other, "deploy", "node1", "--resume")
				var first result
				var rest <-chan result
				select {
				case first = <-a:
					rest = b
				case first = <-b:
					rest = a
				case <-time.After(60 * time.Second):
					t.Fatalf("%d workstation(s), round %d: neither resume ended while one waits at step 3: both attached", workstations, round)
				}
				if first.code != 3 || !strings.Contains(first.stdout, "cannot resume") {
					t.Fatalf("%d workstation(s), round %d: the resume that ended first: %s\nwant exit 3 (BLOCKED) while the other holds the node", workstations, round, first)
				}
				touch(t, p.nodePath("s3.release"))
				if r := within(t, "the winning resume", rest); r.code != 0 {
					t.Fatalf("%d workstation(s), round %d: the winning resume: %s", workstations, round, r)
				}
				if got := count(t, p.nodePath("s3.ran"), "s3"); got != 1 {
					t.Fatalf("%d workstation(s), round %d: the resumed step ran %d times, want once", workstations, round, got)
				}
			}
		}
	})
}

// TestUnlockWhileResumeAttaches holds conc unlock at its confirmation
// while a resume attaches to the run the operator is about to give up:
// the unlock says the lock changed hands and removes nothing, and the
// resumed run keeps its bundle and finishes.
func TestUnlockWhileResumeAttaches(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = remote run true\nstep = "+gated("s3")+"\nstep = remote close_bundle\n")
		if r := p.conc("deploy", "node1", "--stop-before", "3"); r.code != 4 {
			t.Fatalf("stop before 3: %s", r)
		}
		asked, answer := make(chan string, 1), make(chan bool)
		unlocked := make(chan result, 1)
		go func() {
			unlocked <- inApp(p, "", func(a *app) int {
				a.ask = func(q string) (bool, error) { asked <- q; return <-answer, nil }
				return a.execute(context.Background(), []string{"-f", p.file, "unlock", "node1"})
			})
		}()
		select {
		case q := <-asked:
			if !strings.Contains(q, "giving up deploy") {
				t.Fatalf("question %q", q)
			}
		case r := <-unlocked:
			t.Fatalf("unlock did not ask: %s", r)
		}
		_, resumed := p.start("deploy", "node1", "--resume")
		waitFile(t, p.nodePath("s3.ran"), resumed)
		session := p.record(t).Session
		answer <- true
		u := within(t, "unlock", unlocked)
		if u.code != 3 || !strings.Contains(u.stderr, "changed hands") {
			t.Errorf("unlock after the lock changed hands: %s\nwant exit 3, saying so", u)
		}
		if rec := p.record(t); rec.Session != session {
			t.Errorf("the resumed run's lock record changed: session %q, want %q", rec.Session, session)
		}
		touch(t, p.nodePath("s3.release"))
		if r := within(t, "the resumed run", resumed); r.code != 0 {
			t.Errorf("the resumed run lost its bundle: %s", r)
		}
	})
}

// TestLiveOnFullDisk fills the bundle's file system while a run holds it:
// nothing can be written there any more, yet conc status says the run is
// alive and conc unlock without --force refuses, because liveness is the
// agent's kernel lock, not a record it writes.
func TestLiveOnFullDisk(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		full := filepath.Join(n.Home, "full")
		if err := os.Mkdir(full, 0o700); err != nil {
			t.Fatal(err)
		}
		smalldisk.Mount(t, full, "4m")
		p := newProject(t, n, "")
		p.bundle = "full/bundle"
		p.write("[plan deploy]\nstep = remote open_bundle\nstep = " + gated("s2") + "\nstep = remote close_bundle\n")
		_, done := p.start("deploy", "node1")
		waitFile(t, p.nodePath("s2.ran"), done)
		smalldisk.Fill(t, full)
		if err := os.WriteFile(filepath.Join(p.bundleDir(), "probe"), []byte("x"), 0o600); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("the disk is not full: writing a byte gave %v", err)
		}
		if r := p.conc("status", "node1"); r.code != 3 || !strings.Contains(r.stdout, "alive:   yes") {
			t.Errorf("status of a live run on a full disk: %s", r)
		}
		if r := p.conc("unlock", "node1", "--yes"); r.code != 3 || !exists(p.bundleDir()) {
			t.Errorf("unlock without --force of a live run on a full disk: %s", r)
		}
		touch(t, p.nodePath("s2.release"))
		if r := within(t, "the run", done); r.code != 0 || exists(p.bundleDir()) {
			t.Errorf("the run on a full disk: %s", r)
		}
	})
}

// TestKilledAgent kills the agent serving a run with SIGKILL, so that it
// writes nothing: the kernel drops its lock with it, conc status says the
// holder is not alive, and the run can be resumed.
func TestKilledAgent(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = "+gated("s2")+"\nstep = remote close_bundle\n")
		_, done := p.start("deploy", "node1")
		waitFile(t, p.nodePath("s2.ran"), done)
		pid := p.record(t).AgentPID
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if r := within(t, "the run", done); r.code != 1 {
			t.Errorf("the run whose agent was killed: %s", r)
		}
		want := fmt.Sprintf("alive:   no, its agent (pid %d) ended without letting go", pid)
		if r := p.conc("status", "node1"); r.code != 3 || !strings.Contains(r.stdout, want) {
			t.Errorf("status after the agent was killed: %s\nwant %q", r, want)
		}
		touch(t, p.nodePath("s2.release"))
		if r := p.conc("deploy", "node1", "--resume"); r.code != 0 || exists(p.bundleDir()) {
			t.Errorf("resume: %s", r)
		}
	})
}

// lostPlans are two plans on one node: run A, which another run's lock
// will take from under it, and run B, which takes the node after A lost
// it. B records where its jobs run.
func lostPlans(p *project, a string) string {
	return "[plan a]\nstep = remote open_bundle\n" + a +
		"step = local put payload --to from-a\nstep = remote run \"pwd > $HOME/a.pwd\"\nstep = remote close_bundle\n" +
		"[plan b]\nstep = remote open_bundle\nstep = remote run \"pwd > $HOME/b.pwd\"\nstep = " + gated("b3") + "\nstep = remote close_bundle\n"
}

// TestLostBundle takes run A's bundle from under it in three ways: conc
// unlock --force while A's remote job runs, the same while A runs a local
// job, and by hand (moved aside while A's agent still lives). Then run B
// takes the node. A ends ERROR and non-zero without touching B's bundle or
// record; B's jobs run in B's bundle, and B finishes.
func TestLostBundle(t *testing.T) {
	cases := []struct {
		name  string
		step2 func(p *project) string // A's second step, where it loses the bundle
		take  func(t *testing.T, p *project)
	}{
		{"unlock --force mid remote job", func(p *project) string { return "step = " + gated("a2") + "\n" }, forceUnlock},
		{"unlock --force mid local job", func(p *project) string { return "step = " + localGated("a2", p.dir) + "\n" }, forceUnlock},
		{"moved by hand", func(p *project) string { return "step = " + localGated("a2", p.dir) + "\n" }, func(t *testing.T, p *project) {
			if err := os.Rename(p.bundleDir(), p.nodePath("moved-by-hand")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				for _, f := range []string{"a2.ran", "a2.release", "b3.ran", "b3.release", "a.pwd", "b.pwd"} {
					os.Remove(n.Home + "/" + f)
				}
				p := newProject(t, n, "")
				p.write(lostPlans(p, tc.step2(p)))
				writeLocal(t, filepath.Join(p.dir, "payload"), "from A\n", 0o644)
				_, a := p.start("run", "a", "node1")
				ran := p.nodePath("a2.ran")
				if strings.Contains(tc.step2(p), "local run") {
					ran = filepath.Join(p.dir, "a2.ran")
				}
				waitFile(t, ran, a)
				tc.take(t, p)
				_, b := p.start("run", "b", "node1")
				waitFile(t, p.nodePath("b3.ran"), b)
				before := snapshot(t, p.bundleDir())
				// Let A go on: its job ends, or was ended, and it must stop
				// before anything else.
				touch(t, filepath.Join(p.dir, "a2.release"))
				touch(t, p.nodePath("a2.release"))
				ra := within(t, "run A", a)
				if ra.code == 0 || !strings.Contains(ra.stdout, "ERROR") || !strings.Contains(ra.stdout, "This run lost node1's lock") {
					t.Errorf("run A, which lost its bundle: %s\nwant ERROR, a non-zero exit, and that it lost the lock", ra)
				}
				if exists(p.nodePath("a.pwd")) {
					t.Errorf("run A ran a job after it lost its bundle, in %s", readFile(t, p.nodePath("a.pwd")))
				}
				if after := snapshot(t, p.bundleDir()); after != before {
					t.Errorf("run A changed run B's bundle:\nbefore:\n%s\nafter:\n%s", before, after)
				}
				if got := strings.TrimSpace(readFile(t, p.nodePath("b.pwd"))); got != p.bundleDir() {
					t.Errorf("run B's job ran in %s, want its bundle %s", got, p.bundleDir())
				}
				touch(t, p.nodePath("b3.release"))
				if rb := within(t, "run B", b); rb.code != 0 {
					t.Errorf("run B: %s", rb)
				}
			})
		}
	})
}

func forceUnlock(t *testing.T, p *project) {
	t.Helper()
	r := p.conc("unlock", "node1", "--yes", "--force")
	if r.code != 0 || !strings.Contains(r.stdout, "stopped the live run's agent") || exists(p.bundleDir()) {
		t.Fatalf("unlock --force of a live run: %s", r)
	}
}

// TestResumeAfterFinalPause resumes a run that stopped at a pause that was
// its plan's last step: there is nothing left to run, which conc says,
// with exit code 0, naming the bundle the plan leaves on the node.
func TestResumeAfterFinalPause(t *testing.T) {
	n := testnode.InProcess(t)
	p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = remote run true\nstep = remote pause look before you leave\n")
	if r := p.conc("deploy", "node1"); r.code != 4 {
		t.Fatalf("deploy to the pause: %s", r)
	}
	r := p.conc("deploy", "node1", "--resume")
	if r.code != 0 || !strings.Contains(r.stdout, "every step of deploy") || !strings.Contains(r.stdout, "stays on node1") {
		t.Errorf("resume after a final pause: %s", r)
	}
	if r := p.conc("deploy", "node1", "--resume"); r.code != 0 {
		t.Errorf("a second resume: %s", r)
	}
	if r := p.conc("status", "node1"); r.code != 3 || !strings.Contains(r.stdout, "alive:   no") {
		t.Errorf("status after: %s", r)
	}
}

// TestSkippedOpenBundle skips remote open_bundle under --step: the local
// job after it, which writes into the node's bundle, must not write into
// whatever is at the bundle's path, here another run's bundle.
func TestSkippedOpenBundle(t *testing.T) {
	n := testnode.InProcess(t)
	p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = local put payload\nstep = remote close_bundle\n")
	writeLocal(t, filepath.Join(p.dir, "payload"), "x", 0o644)
	other := p.bundleDir()
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := stepped(t, p, "n\ny\n", io.Discard, &out)
	if code != 1 || !strings.Contains(out.String(), "does not hold") {
		t.Errorf("exit %d, want 1 and an ERROR saying the run does not hold the bundle:\n%s", code, out.String())
	}
	if exists(filepath.Join(other, "payload")) {
		t.Error("the put wrote into a bundle the run does not hold")
	}
}

// TestPutOnFullDisk: a put that does not fit on the node's disk says so,
// naming the node, and leaves nothing behind.
func TestPutOnFullDisk(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		full := filepath.Join(n.Home, "full")
		os.Mkdir(full, 0o700)
		smalldisk.Mount(t, full, "4m")
		p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = local put big.bin\nstep = remote close_bundle\n")
		p.bundle = "full/bundle"
		p.write("[plan deploy]\nstep = remote open_bundle\nstep = local put big.bin\nstep = remote close_bundle\n")
		writeLocal(t, filepath.Join(p.dir, "big.bin"), strings.Repeat("b", 6<<20), 0o644)
		r := p.conc("deploy", "node1")
		if r.code != 1 || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stdout, "no space") {
			t.Errorf("a put larger than the node's disk: %s\nwant FAILED saying there is no space", r)
		}
		if left, _ := filepath.Glob(filepath.Join(p.bundleDir(), "*big*")); len(left) != 0 {
			t.Errorf("left in the bundle: %v", left)
		}
		p.conc("unlock", "node1", "--yes")
	})
}

// TestBundlePathLinks: a dangling symlink at the bundle's path locks the
// node, shows in conc status, and conc unlock removes the link (never what
// it points to); a symlink among the bundle's parents is refused at open,
// and nothing is made where it points.
func TestBundlePathLinks(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = remote close_bundle\n")
		os.Symlink(filepath.Join(n.Home, "nowhere"), p.bundleDir())
		if r := p.conc("deploy", "node1"); r.code != 3 {
			t.Errorf("deploy onto a dangling link: %s", r)
		}
		if r := p.conc("status", "node1"); r.code != 3 || !strings.Contains(r.stdout, "symbolic link") {
			t.Errorf("status of a dangling link: %s", r)
		}
		if r := p.conc("unlock", "node1", "--yes"); r.code != 0 || exists(p.bundleDir()) {
			t.Errorf("unlock of a dangling link: %s", r)
		}
		if r := p.conc("deploy", "node1"); r.code != 0 {
			t.Errorf("deploy once the link is gone: %s", r)
		}

		outside := t.TempDir()
		os.Symlink(outside, p.nodePath("linked"))
		p.bundle = "linked/bundle"
		p.write("[plan deploy]\nstep = remote open_bundle\nstep = remote close_bundle\n")
		if r := p.conc("deploy", "node1"); r.code != 1 || !strings.Contains(r.stdout, "is a symbolic link") {
			t.Errorf("deploy through a linked parent: %s", r)
		}
		if left, _ := os.ReadDir(outside); len(left) != 0 {
			t.Errorf("made where the link points: %v", left)
		}
	})
}

// TestStatusShowsTheRunningStep: conc status during a long job names it,
// as JSON too, and once it ended no longer does: the agent writes it down
// after a second, and removes it with the job.
func TestStatusShowsTheRunningStep(t *testing.T) {
	n := testnode.OpenSSH(t)
	p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = "+gated("long")+"\nstep = remote close_bundle\n")
	_, done := p.start("deploy", "node1")
	waitFile(t, p.nodePath("long.ran"), done)
	var r result
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if r = p.conc("status", "node1"); strings.Contains(r.stdout, "running: step 2/3 run, for ") {
			break
		}
	}
	if !strings.Contains(r.stdout, "running: step 2/3 run, for ") {
		t.Fatalf("status during the long job: %s", r)
	}
	if j := p.conc("status", "node1", "--json"); !strings.Contains(j.stdout, `"running":{"step":2,"op":"run","since":`) {
		t.Errorf("status --json during the long job: %s", j)
	}
	touch(t, p.nodePath("long.release"))
	if r := <-done; r.code != 0 {
		t.Fatalf("deploy: %s", r)
	}
	if exists(p.bundleDir()) {
		t.Error("the bundle outlived its run")
	}
}
