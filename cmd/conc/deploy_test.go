package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
)

const happyPlan = `[plan deploy]
step = remote open_bundle
step = local put app.txt
step = remote run cp app.txt ../delivered.txt
step = local run "echo local step on $CONC_NODE > local.txt"
step = remote close_bundle
`

func TestDeployHappyPath(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, happyPlan)
		os.WriteFile(filepath.Join(p.dir, "app.txt"), []byte("version 2\n"), 0o644)
		r := p.conc("deploy", "node1")
		if r.code != 0 {
			t.Fatalf("deploy: %s", r)
		}
		got, err := os.ReadFile(p.nodePath("delivered.txt"))
		if err != nil || string(got) != "version 2\n" {
			t.Errorf("delivered file: %q, %v", got, err)
		}
		if b, _ := os.ReadFile(filepath.Join(p.dir, "local.txt")); string(b) != "local step on node1\n" {
			t.Errorf("local job wrote %q", b)
		}
		if exists(p.bundleDir()) {
			t.Error("the bundle is still on the node after close_bundle")
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 5 {
			t.Fatalf("%d lines, want one per job:\n%s", len(lines), r.stdout)
		}
		for i, want := range []string{"node1 ", "node1 (local) ", "node1 ", "node1 (local) ", "node1 "} {
			if !strings.Contains(lines[i], "OK") || !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "/5") {
				t.Errorf("line %d = %q, want OK on %s with its step number", i+1, lines[i], want)
			}
		}
	})
}

func TestDeployBlocked(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, happyPlan)
		os.WriteFile(filepath.Join(p.dir, "app.txt"), []byte("v2"), 0o644)
		os.Mkdir(p.bundleDir(), 0o700)
		os.WriteFile(filepath.Join(p.bundleDir(), "theirs.txt"), []byte("someone else's"), 0o600)
		before := snapshot(t, p.bundleDir())
		r := p.conc("deploy", "node1")
		if r.code != 3 {
			t.Fatalf("deploy into a locked node: %s", r)
		}
		if !strings.Contains(r.stdout, "BLOCKED") || !strings.Contains(r.stdout, "exists") {
			t.Errorf("output does not say BLOCKED and why:\n%s", r.stdout)
		}
		if after := snapshot(t, p.bundleDir()); after != before {
			t.Errorf("the bundle changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if exists(p.nodePath("delivered.txt")) {
			t.Error("a job ran after BLOCKED")
		}
	})
}

func TestDeployFailedLeavesBundle(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run "echo migrating; echo schema is newer >&2; exit 5"
step = remote run touch ../never.txt
step = remote close_bundle
`)
		r := p.conc("deploy", "node1")
		if r.code != 1 {
			t.Fatalf("deploy with a failing job: %s", r)
		}
		for _, want := range []string{"FAILED", "exit status 5", "schema is newer", "continue: conc -f " + p.file + " deploy node1 --resume", "stays on node1"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stdout)
			}
		}
		if !exists(p.bundleDir()) {
			t.Error("the bundle is gone after a failure; it must stay for inspection")
		}
		if exists(p.nodePath("never.txt")) {
			t.Error("a job after the failure ran")
		}
	})
}

// snapshot lists a directory tree with modes and contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		data := ""
		if fi.Mode().IsRegular() {
			d, _ := os.ReadFile(path)
			data = string(d)
		}
		rel, _ := filepath.Rel(dir, path)
		b.WriteString(rel + " " + fi.Mode().String() + " " + fi.ModTime().String() + " " + data + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestUmaskKept checks that remote jobs get the login shell's umask
// whether the run uploaded the agent (whose boot script works under umask
// 077) or found it cached.
func TestUmaskKept(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = remote run \"umask >> ../umask.txt\"\nstep = remote close_bundle\n")
		for range 2 {
			if r := p.conc("deploy", "node1"); r.code != 0 {
				t.Fatalf("deploy: %s", r)
			}
		}
		lines := strings.Fields(readFile(t, p.nodePath("umask.txt")))
		if len(lines) != 2 || lines[0] != lines[1] || lines[0] == "0077" {
			t.Errorf("umasks of the uploading and the cached run: %q, want the same, not 0077", lines)
		}
	})
}

// TestVerboseOutputOnce checks that -v shows a job's output as it runs,
// and not again under its line.
func TestVerboseOutputOnce(t *testing.T) {
	n := testnode.InProcess(t)
	p := newProject(t, n, "[plan deploy]\nstep = local run \"echo local-marker; exit 1\"\n")
	r := p.conc("-v", "deploy", "node1")
	if r.code != 1 || strings.Count(r.stdout, "local-marker") != 1 {
		t.Errorf("a local job's output with -v, want it once: %s", r)
	}
	p.write("[plan deploy]\nstep = remote open_bundle\nstep = remote run \"echo remote-marker; exit 1\"\n")
	r = p.conc("-v", "deploy", "node1")
	if r.code != 1 || strings.Count(r.stdout, "remote-marker") != 1 {
		t.Errorf("a remote job's output with -v, want it once: %s", r)
	}
}
