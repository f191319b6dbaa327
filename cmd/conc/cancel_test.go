package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/jobs"
)

const longJobPlan = `[plan deploy]
step = remote open_bundle
step = remote run "echo $$ > ../job.pid; exec sleep 300"
step = remote close_bundle
`

// TestCancelRemoteJob interrupts a run the way Ctrl-C does: the job is
// stopped in-band, its process group killed, the bundle and the journal
// stay, exit 4.
func TestCancelRemoteJob(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, longJobPlan)
		ctx, cancel := context.WithCancelCause(context.Background())
		done := make(chan result, 1)
		go func() { done <- p.concCtx(ctx, "deploy", "node1") }()
		pid := waitPid(t, p.nodePath("job.pid"), done)
		cancel(jobs.ErrCanceled)
		r := <-done
		if r.code != 4 || !strings.Contains(r.stdout, "STOPPED") || !strings.Contains(r.stdout, "--resume") {
			t.Fatalf("interrupted deploy: %s", r)
		}
		if err := processGone(pid); err != nil {
			t.Error(err)
		}
		if !exists(p.bundleDir()) {
			t.Error("the bundle is gone after a stop")
		}
	})
}

func TestRemoteTimeout(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run --timeout=1s "echo $$ > ../job.pid; exec sleep 300"
`)
		r := p.conc("deploy", "node1")
		if r.code != 1 || !strings.Contains(r.stdout, "TIMED OUT") {
			t.Fatalf("deploy with a timeout: %s", r)
		}
		b, err := os.ReadFile(p.nodePath("job.pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid := atoi(t, strings.TrimSpace(string(b)))
		if err := processGone(pid); err != nil {
			t.Error(err)
		}
	})
}

// TestSigint sends a real SIGINT to a conc process.
func TestSigint(t *testing.T) {
	n := testnode.OpenSSH(t)
	p := newProject(t, n, longJobPlan)
	cmd, done := p.start("deploy", "node1")
	pid := waitPid(t, p.nodePath("job.pid"), done)
	cmd.Process.Signal(syscall.SIGINT)
	r := <-done
	if r.code != 4 || !strings.Contains(r.stdout, "STOPPED") {
		t.Fatalf("conc after SIGINT: %s", r)
	}
	if err := processGone(pid); err != nil {
		t.Error(err)
	}
}

// slowDeployFile is a deploy file that never ends: a FIFO whose writer,
// the test, stays silent after a first line. It returns once conc has
// opened it, so conc is reading it when the test goes on, or fails the test
// if done yields first: conc ended before it read the file.
func slowDeployFile(t *testing.T, start func(path string), done <-chan result) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "conc.ini")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	opened := make(chan *os.File, 1)
	go func() {
		// Opening a FIFO to write waits for its reader.
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			opened <- w
		}
	}()
	t.Cleanup(func() {
		// Frees the open above if conc never read the file.
		if r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			r.Close()
		}
	})
	start(path)
	select {
	case w := <-opened:
		// Closing ends the file, and so a read conc left behind.
		t.Cleanup(func() { w.Close() })
		w.WriteString("[defaults]\n")
	case r := <-done:
		t.Fatalf("conc ended before it read the deploy file: %s", r)
	case <-time.After(20 * time.Second):
		t.Fatal("conc did not open the deploy file")
	}
}

// TestStopDuringLoad: a stop (Ctrl-C or SIGTERM cancel conc's context with
// jobs.ErrCanceled) while conc reads a deploy file that does not end makes
// conc return at once, exit 4, STOPPED: on purpose, and nothing was done.
func TestStopDuringLoad(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan result, 1)
	slowDeployFile(t, func(path string) {
		go func() {
			var out, errb bytes.Buffer
			a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
			code := a.execute(ctx, []string{"-f", path, "deploy", "node1"})
			done <- result{stdout: out.String(), stderr: errb.String(), code: code}
		}()
	}, done)
	cancel(jobs.ErrCanceled)
	assertStoppedLoading(t, done)
}

// TestSigtermDuringLoad sends a real SIGTERM to conc while it reads a
// deploy file that does not end.
func TestSigtermDuringLoad(t *testing.T) {
	build(t)
	var cmd *exec.Cmd
	done := make(chan result, 1)
	slowDeployFile(t, func(path string) {
		var out, errb bytes.Buffer
		cmd = exec.Command(concBin, "-f", path, "deploy", "node1")
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			cmd.Wait()
			done <- result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
		}()
	}, done)
	cmd.Process.Signal(syscall.SIGTERM)
	assertStoppedLoading(t, done)
}

func assertStoppedLoading(t *testing.T, done <-chan result) {
	t.Helper()
	select {
	case r := <-done:
		if r.code != jobs.ExitStopped || !strings.Contains(r.stderr, "read the deploy file: stopped by the operator") {
			t.Errorf("stopped while loading: %s", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("conc kept reading the deploy file after it was stopped")
	}
}

// TestCancelWhileAgentStarts: Ctrl-C while the node's login shell starts
// the agent ends the run STOPPED at open_bundle (exit 4), as a stop
// anywhere else does, not ERROR: the stop closes the session, and the
// broken start is the stop's doing. The login shell says when it has the
// boot command and waits for the test, so the stop lands inside the start.
func TestCancelWhileAgentStarts(t *testing.T) {
	dir := t.TempDir()
	shell := filepath.Join(dir, "slow-shell")
	script := "#!/bin/sh\n: >" + filepath.Join(dir, "started") + "\nwhile [ ! -e " + filepath.Join(dir, "go") + " ]; do sleep 0.01; done\nexec /bin/sh \"$@\"\n"
	if err := os.WriteFile(shell, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	n := testnode.OpenSSHWith(t, testnode.Options{Env: []string{"SHELL=" + shell}})
	p := newProject(t, n, longJobPlan)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan result, 1)
	go func() { done <- p.concCtx(ctx, "deploy", "node1") }()
	for !exists(filepath.Join(dir, "started")) {
		select {
		case r := <-done:
			t.Fatalf("the run ended before the agent started: %s", r)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel(jobs.ErrCanceled)
	r := <-done
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
	if r.code != 4 || !strings.Contains(r.stdout, "STOPPED") || !strings.Contains(r.stdout, "1/3 open_bundle") || strings.Contains(r.stdout, "ERROR") {
		t.Fatalf("a stop while the agent starts: want STOPPED at open_bundle, exit 4: %s", r)
	}
}
