package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"

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
