package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/internal/testnode"
)

// onceThenLong is a job that hangs the first time it runs and succeeds the
// second: the run it hangs in is interrupted; the resumed run must finish.
const onceThenLong = `remote run "echo run >> ../job.log; if [ -f ../second ]; then exit 0; fi; touch ../second; echo $$ > ../job.pid; exec sleep 300"`

func count(t *testing.T, path, line string) int {
	t.Helper()
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), line+"\n")
}

// TestKilledControllerResume kills conc with SIGKILL in the middle of a long
// remote job: the lock stays, status shows the holder dead once its agent
// has seen the connection go and let go of the kernel lock, and --resume
// re-runs the interrupted job and finishes.
func TestKilledControllerResume(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		p.write("[plan deploy]\nstep = remote open_bundle\nstep = local run \"echo local >> ran.log\"\nstep = " + onceThenLong + "\nstep = remote close_bundle\n")
		cmd, done := p.start("deploy", "node1")
		pid := waitPid(t, p.nodePath("job.pid"), done)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		if !exists(p.bundleDir()) {
			t.Fatal("the lock went with the controller")
		}
		if err := processGone(pid); err != nil {
			t.Errorf("the job outlived its controller's connection: %v", err)
		}
		st := waitStatus(t, p, "alive:   no")
		for _, want := range []string{"locked", "step 3/4 remote run: ERROR"} {
			if !strings.Contains(st.stdout, want) {
				t.Errorf("status lacks %q:\n%s", want, st.stdout)
			}
		}
		r := p.conc("deploy", "node1", "--resume")
		if r.code != 0 {
			t.Fatalf("resume: %s", r)
		}
		if exists(p.bundleDir()) {
			t.Error("the bundle is still there after the resumed run")
		}
		if got := count(t, p.nodePath("job.log"), "run"); got != 2 {
			t.Errorf("the interrupted job ran %d times, want 2: once cut off, once to the end", got)
		}
		if got := count(t, filepath.Join(p.dir, "ran.log"), "local"); got != 1 {
			t.Errorf("the local job before it ran %d times, want once", got)
		}
		if r := p.conc("status", "node1"); r.code != 0 || !strings.Contains(r.stdout, "node1: free") {
			t.Errorf("status after the resume: %s", r)
		}
	})
}

// waitStatus polls conc status until its output contains want: the agent
// notices a dropped connection on the node, which nothing in the test can
// signal.
func waitStatus(t *testing.T, p *project, want string) result {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := p.conc("status", "node1")
		if strings.Contains(r.stdout, want) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never said %q: %s", want, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCutResume drops the connection mid-job, then resumes.
func TestCutResume(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = "+onceThenLong+"\nstep = remote close_bundle\n")
		done := make(chan result, 1)
		go func() { done <- p.conc("deploy", "node1") }()
		pid := waitPid(t, p.nodePath("job.pid"), done)
		rec, err := bundle.ParseLock([]byte(readFile(t, filepath.Join(p.bundleDir(), bundle.LockFile))))
		if err != nil {
			t.Fatal(err)
		}
		n.Cut()
		if r := <-done; r.code != 1 {
			t.Fatalf("deploy cut off: %s", r)
		}
		if err := processGone(pid); err != nil {
			t.Error(err)
		}
		if err := processGone(rec.AgentPID); err != nil {
			t.Fatalf("agent: %v", err)
		}
		if r := p.conc("status", "node1"); !strings.Contains(r.stdout, "alive:   no, no run has been attached") {
			t.Errorf("status once the agent is gone: %s", r)
		}
		r := p.conc("deploy", "node1", "--resume")
		if r.code != 0 || !strings.Contains(r.stdout, "resuming deploy") {
			t.Fatalf("resume: %s", r)
		}
		if exists(p.bundleDir()) {
			t.Error("the bundle is left after the resumed run")
		}
	})
}

func TestStopBeforeAfterAndStep(t *testing.T) {
	n := testnode.InProcess(t)
	plan := `[plan deploy]
step = remote open_bundle
step = remote run "echo 2 >> ../ran.log"
step = remote run "echo 3 >> ../ran.log"
step = remote run "echo 4 >> ../ran.log"
step = remote close_bundle
`
	p := newProject(t, n, plan)
	r := p.conc("deploy", "node1", "--stop-after", "2")
	if r.code != 4 || !strings.Contains(r.stdout, "stopped after step 2/5") {
		t.Fatalf("--stop-after 2: %s", r)
	}
	r = p.conc("deploy", "node1", "--resume", "--stop-before", "run#3")
	if r.code != 4 || !strings.Contains(r.stdout, "stopped before step 4/5") {
		t.Fatalf("--stop-before run#3: %s", r)
	}
	r = p.conc("deploy", "node1", "--resume")
	if r.code != 0 {
		t.Fatalf("resume to the end: %s", r)
	}
	if got := readFile(t, p.nodePath("ran.log")); got != "2\n3\n4\n" {
		t.Errorf("jobs ran as %q, want each once in order", got)
	}
	for _, bad := range [][]string{{"--stop-before", "untar"}, {"--stop-after", "9"}, {"--from", "run#7"}} {
		if r := p.conc(append([]string{"deploy", "node1"}, bad...)...); r.code != 2 {
			t.Errorf("%v: %s", bad, r)
		}
	}
	if r := p.conc("deploy", "node1", "--step"); r.code != 2 || !strings.Contains(r.stderr, "not a terminal") {
		t.Errorf("--step without a terminal: %s", r)
	}
}

func TestResumeRefusals(t *testing.T) {
	n := testnode.InProcess(t)
	p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = remote run false\nstep = remote close_bundle\n")
	if r := p.conc("deploy", "node1", "--resume"); r.code != 2 || !strings.Contains(r.stdout, "no unfinished run") {
		t.Errorf("resume with nothing to resume: %s", r)
	}
	if r := p.conc("deploy", "node1"); r.code != 1 {
		t.Fatalf("deploy: %s", r)
	}
	p.write("[plan deploy]\nstep = remote open_bundle\nstep = remote run true\nstep = remote close_bundle\n")
	if r := p.conc("deploy", "node1", "--resume"); r.code != 2 || !strings.Contains(r.stdout, "plan changed") {
		t.Errorf("resume of a changed plan: %s", r)
	}
	if r := p.conc("deploy", "node1", "--resume", "--force-plan-change"); r.code != 0 {
		t.Errorf("resume with --force-plan-change: %s", r)
	}
}

func TestUnlock(t *testing.T) {
	n := testnode.InProcess(t)
	p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = remote run false\n")
	if r := p.conc("unlock", "node1", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "not locked") {
		t.Errorf("unlock of a free node: %s", r)
	}
	if r := p.conc("deploy", "node1"); r.code != 1 {
		t.Fatalf("deploy: %s", r)
	}
	if r := p.conc("status", "node1"); r.code != 3 || !strings.Contains(r.stdout, "alive:   no, no run has been attached") {
		t.Errorf("status after a failed run: %s", r)
	}
	if r := p.conc("unlock", "node1"); r.code != 2 || !exists(p.bundleDir()) {
		t.Errorf("unlock without a terminal or --yes: %s", r)
	}
	if r := p.conc("unlock", "node1", "--yes"); r.code != 0 || exists(p.bundleDir()) {
		t.Fatalf("unlock --yes: %s", r)
	}
	if !strings.Contains(readFile(t, p.nodePath(".cache/conc/unlocks.log")), "removed ~/.conc-bundle") {
		t.Error("the unlock is not logged on the node")
	}
	if r := p.conc("deploy", "node1", "--resume"); r.code != 3 || !strings.Contains(r.stdout, "bundle is gone") {
		t.Errorf("resume after unlock: %s", r)
	}
}
