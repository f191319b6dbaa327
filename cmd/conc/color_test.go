package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concdeploy/conc/internal/testnode"
	"golang.org/x/sys/unix"
	"path/filepath"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestColors: on a terminal conc colours its output unless NO_COLOR is
// set or --color says never; --color=always colours a pipe too.
func TestColors(t *testing.T) {
	_, tty := openPTY(t)
	for _, tt := range []struct {
		color, noColor string
		w              io.Writer
		want           bool
	}{
		{"auto", "", tty, true},
		{"auto", "1", tty, false},
		{"never", "", tty, false},
		{"always", "1", &strings.Builder{}, true},
		{"auto", "", &strings.Builder{}, false},
	} {
		t.Setenv("NO_COLOR", tt.noColor)
		a := &app{color: tt.color}
		if got := a.colors(tt.w); got != tt.want {
			t.Errorf("--color %s, NO_COLOR=%q, terminal %v: colors %v, want %v", tt.color, tt.noColor, tt.w == tty, got, tt.want)
		}
	}
	p := newProject(t, testnode.InProcess(t), "[plan deploy]\nstep = remote open_bundle\nstep = remote close_bundle\n")
	if r := p.conc("deploy", "node1", "--color=always"); r.code != 0 || !strings.Contains(r.stdout, "\x1b[32mOK") {
		t.Errorf("--color=always: %q", r.stdout)
	}
	if r := p.conc("deploy", "node1"); r.code != 0 || strings.Contains(r.stdout, "\x1b") {
		t.Errorf("a pipe gets escape codes: %q", r.stdout)
	}
	if r := p.conc("deploy", "node1", "--color=sometimes"); r.code != 2 || !strings.Contains(r.stderr, "auto, always or never") {
		t.Errorf("--color=sometimes: %s", r)
	}
}

// TestFindsTheDeployFile: without -f, conc finds conc.ini in a parent
// directory, as git finds .git, or takes $CONC_FILE.
func TestFindsTheDeployFile(t *testing.T) {
	p := newProject(t, testnode.InProcess(t), "[plan deploy]\nstep = remote open_bundle\nstep = remote close_bundle\n")
	sub := filepath.Join(p.dir, "src", "pkg")
	os.MkdirAll(sub, 0o755)
	os.Rename(p.file, filepath.Join(p.dir, "conc.ini"))
	t.Chdir(sub)
	t.Setenv("CONC_FILE", "")
	run := func() result {
		return inApp(p, "", func(a *app) int { return a.execute(context.Background(), []string{"plan", "deploy"}) })
	}
	if r := run(); r.code != 0 || !strings.Contains(r.stdout, "open_bundle") {
		t.Errorf("conc plan two directories below conc.ini: %s", r)
	}
	os.Rename(filepath.Join(p.dir, "conc.ini"), filepath.Join(p.dir, "site.ini"))
	if r := run(); r.code != 2 || !strings.Contains(r.stderr, "conc.ini") {
		t.Errorf("no conc.ini anywhere: %s", r)
	}
	t.Setenv("CONC_FILE", filepath.Join(p.dir, "site.ini"))
	if r := run(); r.code != 0 || !strings.Contains(r.stdout, "open_bundle") {
		t.Errorf("CONC_FILE: %s", r)
	}
}

// TestCompletions: shell completion offers nodes and groups, plans, and a
// plan's steps, from the deploy file.
func TestCompletions(t *testing.T) {
	p := newProject(t, testnode.InProcess(t), "[group web]\nnodes = node1\n\n[plan deploy]\nstep = remote open_bundle\nstep = remote close_bundle\n\n[plan rollback]\nstep = remote ping\n")
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"deploy", ""}, []string{"node1", "web"}},
		{[]string{"run", ""}, []string{"deploy", "rollback"}},
		{[]string{"run", "rollback", ""}, []string{"node1", "web"}},
		{[]string{"unlock", ""}, []string{"node1"}},
		{[]string{"deploy", "node1", "--stop-after", ""}, []string{"1\tremote open_bundle", "close_bundle"}},
		{[]string{"run", "rollback", "node1", "--from", ""}, []string{"1\tremote ping", "ping"}},
	} {
		r := p.conc(append([]string{"__complete"}, tt.args...)...)
		for _, want := range tt.want {
			if !strings.Contains(r.stdout, want+"\n") {
				t.Errorf("completing %q: lacks %q:\n%s", tt.args, want, r.stdout)
			}
		}
		if !strings.HasSuffix(r.stdout, "\n:4\n") { // ShellCompDirectiveNoFileComp
			t.Errorf("completing %q offers files: %s", tt.args, r.stdout)
		}
	}
}

// TestLiveElapsed: on a terminal, a single node's job that runs for more
// than a second shows a live line with its elapsed time, which leaves
// once the job's own line is printed.
func TestLiveElapsed(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	master, tty := openPTY(t)
	n := testnode.InProcess(t)
	p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = "+gated("slow")+"\nstep = remote close_bundle\n")
	live := make(chan struct{})
	go func() {
		var seen strings.Builder
		buf := make([]byte, 4096)
		found := live
		for {
			k, err := master.Read(buf)
			seen.Write(buf[:k])
			if found != nil && strings.Contains(seen.String(), "running  node1") {
				close(found)
				found = nil
			}
			if err != nil {
				return
			}
		}
	}()
	done := make(chan int, 1)
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: tty, stderr: tty, agents: agents}
		done <- a.execute(context.Background(), []string{"-f", p.file, "deploy", "node1"})
	}()
	select {
	case <-live:
	case code := <-done:
		t.Fatalf("the run ended (exit %d) before a live line showed", code)
	case <-time.After(time.Minute):
		touch(t, p.nodePath("slow.release"))
		t.Fatalf("no live line in a minute of the job running")
	}
	touch(t, p.nodePath("slow.release"))
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}
