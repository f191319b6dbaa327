package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
)

// requirePython skips without python3 and its venv module, except in CI.
func requirePython(t *testing.T) {
	t.Helper()
	if err := exec.Command("python3", "-c", "import venv, ensurepip").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 with venv is missing: %v; .ci/run must install python3-venv", err)
		}
		t.Skipf("python3 with venv is missing: %v", err)
	}
}

// TestSeedDeploy runs the example application's deploy file, the job list
// of the seed essay, with a real sshfs mount: a venv, the vendor library
// untarred and installed with setup.py, the app's wheel installed with pip
// from the bundle only, its console script run on the node.
func TestSeedDeploy(t *testing.T) {
	requirePython(t)
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		requireFuse(t)
		p := newProject(t, n, "")
		example := filepath.Join(repoRoot(), "examples", "pyapp")
		plan, err := os.ReadFile(filepath.Join(example, "conc.ini"))
		if err != nil {
			t.Fatal(err)
		}
		// Here sshfs must really mount; the example tolerates its absence.
		app := filepath.Join(p.dir, "app.ini")
		if err := os.WriteFile(app, []byte(strings.Replace(string(plan), "mount_sshfs --optional", "mount_sshfs", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		p.layers = []string{app}
		if out, err := exec.Command("python3", filepath.Join(example, "build.py"), filepath.Join(p.dir, "dist")).CombinedOutput(); err != nil {
			t.Fatalf("build the example: %v\n%s", err, out)
		}
		r := p.conc("deploy", "node1")
		if r.code != 0 {
			t.Fatalf("deploy: %s", r)
		}
		if strings.Contains(r.stdout, "skipped") {
			t.Errorf("mount_sshfs was skipped:\n%s", r.stdout)
		}
		script := p.nodePath("venvs/hello-conc/bin/hello-conc")
		out, err := exec.Command(script).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Hello, conc!") || !strings.Contains(string(out), p.nodePath("venvs/hello-conc")) {
			t.Errorf("the app on the node: %v\n%s", err, out)
		}
		if exists(p.bundleDir()) || exists(p.local) {
			t.Error("a bundle is left after the deploy")
		}
	})
}
