package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
)

// fakeSudo stands in for sudo on the node: the test runs as a user for whom
// real sudo would not ask (root), so this script asks the way sudo -S -p
// does, checks the password in ~/.sudo-password, and logs its argv and
// environment for the test to search.
const fakeSudo = `#!/bin/sh
printf '%s\n' "$*" >> "$HOME/sudo-argv.log"
env >> "$HOME/sudo-env.log"
if [ "$1" = "-n" ]; then echo "sudo: a password is required" >&2; exit 1; fi
[ "$1" = "-S" ] || { echo "fake sudo: want -S" >&2; exit 2; }
[ "$2" = "-p" ] || { echo "fake sudo: want -p" >&2; exit 2; }
prompt=$3; shift 3
[ "$1" = "--" ] && shift
want=$(cat "$HOME/.sudo-password")
n=0
while [ $n -lt 3 ]; do
	printf '%s' "$prompt" >&2
	IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
	if [ "$pw" = "$want" ]; then exec "$@"; fi
	echo "Sorry, try again." >&2
	n=$((n+1))
done
echo "sudo: 3 incorrect password attempts" >&2
exit 1
`

const canary = "canary-Pa55-wörd-7f3e"

func installFakeSudo(t *testing.T, n *testnode.Node, password string) {
	t.Helper()
	bin := filepath.Join(n.Home, "bin")
	os.MkdirAll(bin, 0o755)
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(n.Home, ".sudo-password"), []byte(password+"\n"), 0o600)
}

// TestSudoCanary runs sudo steps with a canary password and searches every
// output conc and the node produced for it.
func TestSudoCanary(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		installFakeSudo(t, n, canary)
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote sudo sh -c "id -u > ../as-root.txt"
step = remote run --sudo cat ../as-root.txt
step = remote run "cat > ../stdin-of-job.txt"
step = local pause look at the lock record
`)
		pwFile := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pwFile, []byte(canary+"\n"), 0o600)
		logFile := filepath.Join(p.dir, "conc.log")
		r := p.conc("-v", "--log-file", logFile, "deploy", "node1", "--sudo-password-file", pwFile)
		if r.code != 4 {
			t.Fatalf("deploy: %s", r)
		}
		if !exists(p.nodePath("as-root.txt")) {
			t.Fatal("the sudo step did not run its command")
		}
		searched := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
		for _, dir := range []string{p.dir, n.Home} {
			filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode().IsRegular() && !strings.HasSuffix(path, ".sudo-password") && !strings.Contains(path, ".cache/conc") {
					b, _ := os.ReadFile(path)
					searched[path] = string(b)
				}
				return nil
			})
		}
		for _, want := range []string{logFile, filepath.Join(p.bundleDir(), ".conc-lock.json"), filepath.Join(p.bundleDir(), ".conc-journal"), p.nodePath("sudo-argv.log"), p.nodePath("sudo-env.log")} {
			if _, ok := searched[want]; !ok {
				t.Errorf("%s was not written, so it was not searched", want)
			}
		}
		// The commands the node ran were its login shell's arguments,
		// which any user of the node could read.
		preludes, _ := preludes(t, n)
		for i, c := range append(n.Commands(t), preludes...) {
			searched[fmt.Sprintf("command %d the node ran", i)] = c
		}
		for name, content := range searched {
			if strings.Contains(content, canary) {
				t.Errorf("the sudo password appears in %s", name)
			}
		}
		if b, _ := os.ReadFile(p.nodePath("stdin-of-job.txt")); len(b) != 0 {
			t.Errorf("a job's stdin held %q", b)
		}
		if !strings.Contains(r.stdout, "look at the lock record") {
			t.Errorf("the pause message is missing:\n%s", r.stdout)
		}
	})
}

func TestSudoWrongPassword(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		installFakeSudo(t, n, canary)
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote sudo --timeout=60s true
`)
		pwFile := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pwFile, []byte("wrong\n"), 0o600)
		r := p.conc("deploy", "node1", "--sudo-password-file", pwFile)
		if r.code != 1 || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stdout, "refused the password") {
			t.Fatalf("deploy with a wrong sudo password: %s", r)
		}
	})
}

func TestSudoPasswordNeededWithoutTerminal(t *testing.T) {
	n := &testnode.Node{User: "nobody", Host: "127.0.0.1", Port: 1}
	p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = remote sudo true\n")
	r := p.conc("deploy", "node1")
	if r.code != 2 || !strings.Contains(r.stderr, "--sudo-password-file") {
		t.Errorf("sudo plan without a terminal: %s", r)
	}
}
