package main

import (
	"encoding/base64"
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
		_, rest, ok := strings.Cut(c, "exec 9<<'CONC_PRELUDE'\n")
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

// TestBootPreludeLost: the node's login shell is zsh, which writes a
// here-document to a temporary file, and its temporary directory is full,
// so the agent finds the boot command's prelude empty. It says so before
// it speaks, conc sends the hello on stdin, the deploy runs, and conc
// tells the operator why; an uploaded agent and a cached one alike.
func TestBootPreludeLost(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("zsh is not installed (.ci/run installs it)")
	}
	tmp := t.TempDir()
	smalldisk.Mount(t, tmp, "64k")
	smalldisk.Fill(t, tmp)
	n := testnode.OpenSSHWith(t, testnode.Options{Env: []string{
		"SHELL=" + zsh, "TMPPREFIX=" + filepath.Join(tmp, "zsh"), "TMPDIR=" + tmp,
	}})
	p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run echo first-job
step = remote close_bundle
`)
	for _, run := range []string{"uploaded", "cached"} {
		r := p.conc("deploy", "node1")
		if r.code != 0 {
			t.Fatalf("%s: %s", run, r)
		}
		if !strings.Contains(r.stdout, "first-job") {
			t.Errorf("%s: the first job's output is missing: %s", run, r)
		}
		if !strings.Contains(r.stdout+r.stderr, "could not hand the agent its first message") {
			t.Errorf("%s: conc does not say the hello went on stdin: %s", run, r)
		}
	}
	if got, all := preludes(t, n); len(got) != 2 || !all {
		t.Errorf("%d boot commands carried a prelude (all: %v), want both runs'", len(got), all)
	}
}
