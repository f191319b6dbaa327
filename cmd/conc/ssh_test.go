package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/jobs"
)

// samePath reports whether got names the directory want, allowing for
// symlinks in the temporary directory's path.
func samePath(tb testing.TB, got, want string) bool {
	tb.Helper()
	if got == want {
		return true
	}
	real, err := filepath.EvalSymlinks(want)
	return err == nil && got == real
}

func TestSSHShell(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		r := concInput(p, "pwd\n", "ssh", "node1")
		if r.code != 0 || !samePath(t, strings.TrimSuffix(r.stdout, "\n"), n.Home) {
			t.Errorf("without a bundle, pwd = %q; want the home %s: %s", r.stdout, n.Home, r)
		}

		makeBundle(t, p.bundleDir(), nil)
		r = concInput(p, "pwd\n", "ssh", "node1")
		if r.code != 0 || !samePath(t, strings.TrimSuffix(r.stdout, "\n"), p.bundleDir()) {
			t.Errorf("with a bundle, pwd = %q; want the bundle %s: %s", r.stdout, p.bundleDir(), r)
		}

		r = concInput(p, "echo on the node\nexit 3\necho not reached\n", "ssh", "node1")
		if r.code != 3 || r.stdout != "on the node\n" {
			t.Errorf("exit 3 in the shell: %s; want exit 3", r)
		}
	})
}

func TestSSHQuotesTheBundle(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		p.bundle = "it's a $(bundle)"
		p.write("")
		makeBundle(t, p.bundleDir(), nil)
		r := concInput(p, "pwd\n", "ssh", "node1")
		if r.code != 0 || !samePath(t, strings.TrimSuffix(r.stdout, "\n"), p.bundleDir()) {
			t.Errorf("pwd = %q; want the bundle %s: %s", r.stdout, p.bundleDir(), r)
		}
	})
}

// TestSSHTerminal runs conc ssh on a terminal, which script(1) provides:
// OpenSSH gives the shell a terminal with our TERM; the in-process node
// refuses one, and the shell runs without.
func TestSSHTerminal(t *testing.T) {
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed")
	}
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		makeBundle(t, p.bundleDir(), nil)
		cmd := exec.Command(scriptCmd, "-qec", jobs.QuoteAll([]string{concBin, "-f", p.file, "ssh", "node1"}), "/dev/null")
		cmd.Stdin = strings.NewReader("tty; pwd; echo term=$TERM; exit 7\n")
		cmd.Env = append(os.Environ(), "TERM=vt220")
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 7 {
			t.Fatalf("exit: %v; want 7\n%s", err, out)
		}
		wants := []string{p.bundleDir() + "\r\n", "/dev/pts/", "term=vt220\r\n"}
		if n.Kind == testnode.KindInProcess {
			wants = []string{p.bundleDir() + "\r\n", "not a tty", "node1 gives no terminal", "the shell runs without one"}
		}
		for _, want := range wants {
			if !strings.Contains(string(out), want) {
				t.Errorf("the session lacks %q:\n%s", want, out)
			}
		}
	})
}
