package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/runstate"
)

// journals returns each step's latest status in the node's journal and in
// this workstation's, as "step:STATUS" lists in step order.
func journals(t *testing.T, p *project) (node, local string) {
	t.Helper()
	show := func(entries []bundle.Entry) string {
		latest := map[int]string{}
		max := 0
		for _, e := range entries {
			latest[e.Step] = e.Status
			max = maxInt(max, e.Step)
		}
		var b []string
		for s := 1; s <= max; s++ {
			if st, ok := latest[s]; ok {
				b = append(b, fmt.Sprintf("%d:%s", s, st))
			}
		}
		return strings.Join(b, " ")
	}
	ne, err := bundle.ReadJournalFile(filepath.Join(p.bundleDir(), bundle.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(p.dir, ".conc", "state")
	runs, err := runstate.Runs(dir, "node1")
	if err != nil || len(runs) == 0 {
		t.Fatalf("local runs: %v %v", runs, err)
	}
	le, err := runstate.ReadEntries(dir, "node1", runs[0].DeployID)
	if err != nil {
		t.Fatal(err)
	}
	return show(ne), show(le)
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TestRunAheadStopsAtFailure: consecutive remote jobs go to the agent as
// one group; the first that fails ends the run, the jobs after it never
// start on the node, and both journals say the same.
func TestRunAheadStopsAtFailure(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run "echo 2 >> ../ran"
step = remote run "echo 3 >> ../ran; test -e ../fixed"
step = remote run "echo 4 >> ../ran"
step = remote run "echo 5 >> ../ran"
step = remote close_bundle
`)
		log := filepath.Join(p.dir, "conc.log")
		r := p.conc("-v", "--log-file", log, "deploy", "node1")
		if r.code != 1 || !strings.Contains(r.stdout, "stopped at step 3/6") {
			t.Fatalf("deploy: %s", r)
		}
		if !strings.Contains(readFile(t, log), `"from":2,"to":6`) && !strings.Contains(readFile(t, log), `"from":2,"to":5`) {
			t.Errorf("no run-ahead group was sent: %s", readFile(t, log))
		}
		if got := readFile(t, p.nodePath("ran")); got != "2\n3\n" {
			t.Errorf("ran %q on the node, want steps 2 and 3 only", got)
		}
		node, local := journals(t, p)
		if want := "1:OK 2:OK 3:FAILED"; node != want || local != want {
			t.Errorf("journals: node %q, workstation %q, want %q in both", node, local, want)
		}
		// The run goes on from the failed job once it is fixed.
		touch(t, p.nodePath("fixed"))
		if r := p.conc("deploy", "node1", "--resume"); r.code != 0 {
			t.Fatalf("resume: %s", r)
		}
		if got := readFile(t, p.nodePath("ran")); got != "2\n3\n3\n4\n5\n" {
			t.Errorf("ran %q on the node after the resume", got)
		}
	})
}

// TestRunAheadCancel: Ctrl-C during a job of a group stops that job
// STOPPED; the jobs after it never start; --resume runs the stopped job
// again and goes on.
func TestRunAheadCancel(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run "echo 2 >> ../ran"
step = `+onceThenLong+`
step = remote run "echo 4 >> ../ran"
step = remote close_bundle
`)
		ctx, cancel := context.WithCancelCause(context.Background())
		done := make(chan result, 1)
		go func() { done <- p.concCtx(ctx, "deploy", "node1") }()
		pid := waitPid(t, p.nodePath("job.pid"), done)
		cancel(jobs.ErrCanceled)
		r := <-done
		if r.code != 4 || !strings.Contains(r.stdout, "stopped at step 3/5") {
			t.Fatalf("interrupted deploy: %s", r)
		}
		if err := processGone(pid); err != nil {
			t.Error(err)
		}
		if got := readFile(t, p.nodePath("ran")); got != "2\n" {
			t.Errorf("ran %q, want step 2 only: step 4 must never start", got)
		}
		node, local := journals(t, p)
		if want := "1:OK 2:OK 3:STOPPED"; node != want || local != want {
			t.Errorf("journals: node %q, workstation %q, want %q in both", node, local, want)
		}
		r = p.conc("deploy", "node1", "--resume")
		if r.code != 0 || !strings.Contains(r.stdout, "at step 3/5") {
			t.Fatalf("resume: %s", r)
		}
		if got := readFile(t, p.nodePath("ran")); got != "2\n4\n" {
			t.Errorf("ran %q after the resume, want 2 then 4", got)
		}
		if got := count(t, p.nodePath("job.log"), "run"); got != 2 {
			t.Errorf("the stopped job ran %d times, want 2: stopped, then again", got)
		}
	})
}

// TestRunAheadStopAfter: --stop-after a job inside a stretch of remote
// jobs ends the run there; the next job never starts.
func TestRunAheadStopAfter(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run "echo 2 >> ../ran"
step = remote run "echo 3 >> ../ran"
step = remote run "echo 4 >> ../ran"
step = remote close_bundle
`)
		if r := p.conc("deploy", "node1", "--stop-after", "3"); r.code != 4 {
			t.Fatalf("deploy --stop-after 3: %s", r)
		}
		if got := readFile(t, p.nodePath("ran")); got != "2\n3\n" {
			t.Errorf("ran %q, want 2 and 3", got)
		}
		if r := p.conc("deploy", "node1", "--stop-before", "4", "--resume"); r.code != 4 || readFile(t, p.nodePath("ran")) != "2\n3\n" {
			t.Errorf("resume --stop-before 4: %s; ran %q", r, readFile(t, p.nodePath("ran")))
		}
		if r := p.conc("deploy", "node1", "--resume"); r.code != 0 || readFile(t, p.nodePath("ran")) != "2\n3\n4\n" {
			t.Errorf("resume: %s; ran %q", r, readFile(t, p.nodePath("ran")))
		}
	})
}

// TestRunAheadBlocked: the jobs sent with the hello never run when the
// node is locked: the agent answers BLOCKED and exits without reading
// them.
func TestRunAheadBlocked(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run "echo 2 >> ../ran"
step = remote run "echo 3 >> ../ran"
step = remote close_bundle
`)
		if r := p.conc("deploy", "node1", "--stop-after", "1"); r.code != 4 {
			t.Fatalf("a run that holds the node: %s", r)
		}
		other := filepath.Join(t.TempDir(), "state")
		r := p.conc("--state-dir", other, "deploy", "node1")
		if r.code != 3 {
			t.Fatalf("a second run: want BLOCKED: %s", r)
		}
		if exists(p.nodePath("ran")) {
			t.Errorf("a job sent with the hello ran on a locked node: %q", readFile(t, p.nodePath("ran")))
		}
	})
}
