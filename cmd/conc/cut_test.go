package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/internal/testnode"
)

// TestConnectionCutMidJob drops the network while a remote job runs: the
// agent must notice the closed channel, kill the job's process group and
// exit, leaving no orphans; the controller reports ERROR.
func TestConnectionCutMidJob(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run "echo $$ > ../job.pid; exec sleep 300"
step = remote close_bundle
`)
		done := make(chan result, 1)
		go func() { done <- p.concCtx(context.Background(), "deploy", "node1") }()
		jobPid := waitPid(t, p.nodePath("job.pid"), done)
		lock, err := os.ReadFile(filepath.Join(p.bundleDir(), bundle.LockFile))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := bundle.ParseLock(lock)
		if err != nil || rec.AgentPID == 0 {
			t.Fatalf("lock record without the agent's pid: %v %s", err, lock)
		}
		n.Cut()
		r := <-done
		if r.code != 1 || !strings.Contains(r.stdout, "ERROR") {
			t.Errorf("deploy after the cut: %s", r)
		}
		if err := processGone(rec.AgentPID); err != nil {
			t.Errorf("agent: %v", err)
		}
		if err := processGone(jobPid); err != nil {
			t.Errorf("job: %v", err)
		}
		if !exists(p.bundleDir()) {
			t.Error("the bundle went with the connection; it must stay as the lock")
		}
	})
}
