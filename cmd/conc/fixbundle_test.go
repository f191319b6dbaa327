package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
)

// TestStopFixResume is the reason conc exists: stop a deploy after the copy,
// replace a file in the bundle by hand with conc bundle, and resume. The run
// must finish with the replaced file, every job having run exactly once.
func TestStopFixResume(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = local run "echo 2 >> ran.log"
step = local copy_product app.conf
step = remote run "echo 4 >> ../ran.log; cp app.conf ../installed.conf"
step = local run "echo 5 >> ran.log"
step = remote close_bundle
`)
		os.WriteFile(filepath.Join(p.dir, "app.conf"), []byte("listen = 80\n"), 0o644)
		r := p.conc("deploy", "node1", "--stop-after", "copy_product")
		if r.code != 4 || !strings.Contains(r.stdout, "stopped after step 3/6") {
			t.Fatalf("--stop-after copy_product: %s", r)
		}
		if got := readFile(t, filepath.Join(p.bundleDir(), "app.conf")); got != "listen = 80\n" {
			t.Fatalf("the bundle holds %q after the copy", got)
		}
		fixed := filepath.Join(t.TempDir(), "app.conf")
		os.WriteFile(fixed, []byte("listen = 8080\n"), 0o644)
		if r := p.conc("bundle", "node1", "put", fixed, "app.conf"); r.code != 0 {
			t.Fatalf("conc bundle put: %s", r)
		}
		r = p.conc("deploy", "node1", "--resume")
		if r.code != 0 || !strings.Contains(r.stdout, "resuming deploy") || !strings.Contains(r.stdout, "at step 4/6") {
			t.Fatalf("resume: %s", r)
		}
		if got := readFile(t, p.nodePath("installed.conf")); got != "listen = 8080\n" {
			t.Errorf("installed %q, want the file fixed by hand", got)
		}
		if got := readFile(t, filepath.Join(p.dir, "ran.log")) + readFile(t, p.nodePath("ran.log")); got != "2\n5\n4\n" {
			t.Errorf("jobs ran as %q, want each of 2, 4 and 5 once", got)
		}
		if exists(p.bundleDir()) {
			t.Error("the bundle is still on the node")
		}
		if !strings.Contains(r.stdout, "4/6") || strings.Contains(r.stdout, " 3/6 ") || strings.Contains(r.stdout, " 1/6 ") {
			t.Errorf("the resumed run's lines:\n%s", r.stdout)
		}
	})
}

// TestFrom re-runs a plan from an explicit step of the unfinished run.
func TestFrom(t *testing.T) {
	n := testnode.InProcess(t)
	p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run "echo 2 >> ../ran.log"
step = remote run "echo 3 >> ../ran.log"
step = remote close_bundle
`)
	if r := p.conc("deploy", "node1", "--stop-before", "4"); r.code != 4 {
		t.Fatalf("first run: %s", r)
	}
	if r := p.conc("deploy", "node1", "--from", "run#2"); r.code != 0 || !strings.Contains(r.stdout, "at step 3/4") {
		t.Fatalf("--from run#2: %s", r)
	}
	if got := readFile(t, p.nodePath("ran.log")); got != "2\n3\n3\n" {
		t.Errorf("jobs ran as %q, want step 3 twice", got)
	}
}
