package main

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/smalldisk"
	"github.com/concdeploy/conc/internal/testnode"
)

// preludes returns what the boot commands the node was asked to run carry
// of the hello and the jobs sent ahead (a here-document of base64), and
// whether every command that started an agent carried one.
func preludes(t *testing.T, n *testnode.Node) (decoded []string, all bool) {
	t.Helper()
	all = true
	for _, c := range n.Commands(t) {
		if !strings.Contains(c, "conc-boot") {
			continue // not an agent's start (sftp)
		}
		_, rest, ok := strings.Cut(c, "9<<'CONC_PRELUDE'\n")
		if !ok {
			all = false
			continue
		}
		b64, _, _ := strings.Cut(rest, "\nCONC_PRELUDE\n")
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatalf("a boot command's prelude is not base64: %v", err)
		}
		decoded = append(decoded, string(b))
	}
	return decoded, all
}

// TestBootPrelude: the hello and the first jobs go in the boot command,
// so they need not wait for sshd to open the session's window, both when
// the agent is uploaded and when it is cached; but a hello that holds a
// secret param goes on stdin, and the command never shows its value.
func TestBootPrelude(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		const secret = "s3cret-param-4b1d"
		plans := `[plan deploy]
step = remote open_bundle
step = remote run echo first-job
step = remote close_bundle

[plan secret]
step = remote open_bundle
step = remote run test "${db_password}" = ` + secret + `
step = remote close_bundle
`
		p := newProject(t, n, plans)
		p.extra = "db_password =\n"
		p.write(plans)
		for _, run := range []string{"uploaded", "cached"} {
			if r := p.conc("deploy", "node1"); r.code != 0 {
				t.Fatalf("%s: %s", run, r)
			}
		}
		got, all := preludes(t, n)
		if len(got) != 2 || !all {
			t.Fatalf("%d boot commands carried a prelude (all: %v), want both runs'", len(got), all)
		}
		for _, g := range got {
			if !strings.Contains(g, "first-job") {
				t.Errorf("a prelude without the first job: %q", g)
			}
		}

		p.extra = "db_password = " + secret + "\n"
		p.write(plans)
		if r := p.conc("run", "secret", "node1"); r.code != 0 {
			t.Fatalf("with a secret param: %s", r)
		}
		if got, all := preludes(t, n); len(got) != 2 || all {
			t.Errorf("with a secret param, the boot command carried the hello (%d preludes, all: %v)", len(got), all)
		}
		got, _ = preludes(t, n)
		for _, c := range append(n.Commands(t), got...) {
			if strings.Contains(c, secret) {
				t.Errorf("a command the node ran shows the secret: %q", c)
			}
		}
	})
}

// TestBootShells: the agent starts, uploaded and then cached, under each
// login shell a node may have, with the prelude in the boot command. Where
// the shell writes a here-document to a temporary file (zsh; bash in POSIX
// mode, as sh, with bash 5.0's rules) and the temporary directory is full,
// the prelude does not arrive: the agent says so, conc sends the hello on
// stdin and tells the operator why, and the deploy runs. Elsewhere the
// prelude arrives (ksh hands a descriptor to the program it execs only
// when the redirection is the command's own).
func TestBootShells(t *testing.T) {
	posixBash := filepath.Join(t.TempDir(), "posix-bash")
	if err := os.WriteFile(posixBash, []byte("#!/bin/sh\nexec bash --posix \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, shell string
		env         []string
		full        bool // the temporary directory is full; the prelude is lost
	}{
		{"zsh", "zsh", nil, false},
		{"zsh and a full tmp", "zsh", nil, true},
		{"bash as sh and a full tmp", posixBash, []string{"BASH_COMPAT=50"}, true},
		{"ksh", "ksh", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			shell, err := exec.LookPath(c.shell)
			if err != nil {
				t.Skipf("%s is not installed (.ci/run installs it)", c.shell)
			}
			env := append([]string{"SHELL=" + shell}, c.env...)
			if c.full {
				full := t.TempDir()
				smalldisk.Mount(t, full, "64k")
				smalldisk.Fill(t, full)
				env = append(env, "TMPDIR="+full, "TMPPREFIX="+filepath.Join(full, "zsh"))
			}
			n := testnode.OpenSSHWith(t, testnode.Options{Env: env})
			p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run echo first-job
step = remote close_bundle
`)
			for _, run := range []string{"uploaded", "cached"} {
				r := p.conc("deploy", "node1")
				if r.code != 0 || strings.Count(r.stdout, " OK ") != 3 {
					t.Fatalf("%s: %s", run, r)
				}
				if got := strings.Contains(r.stdout+r.stderr, "could not hand the agent its first message"); got != c.full {
					t.Errorf("%s: conc says the hello went on stdin: %v, want %v\n%s", run, got, c.full, r)
				}
			}
			if got, all := preludes(t, n); len(got) != 2 || !all {
				t.Errorf("%d boot commands carried a prelude (all: %v), want both runs'", len(got), all)
			}
		})
	}
}
