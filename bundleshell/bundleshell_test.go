package bundleshell

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/bundlefs"
	"github.com/concdeploy/conc/internal/sftptest"
)

// newTestShell opens a bundle shell on the bundle of linkedHome, reading
// the script from stdin.
func newTestShell(tb testing.TB, script string, edit EditFunc) (sh *Shell, stdout, stderr *bytes.Buffer, root string) {
	tb.Helper()
	home, root := sftptest.LinkedHome(tb)
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	sh, err := New(sftptest.Pipe(tb, home), Config{
		Node: "node1", Bundle: ".conc-bundle", Stdin: strings.NewReader(script),
		Stdout: stdout, Stderr: stderr, Edit: edit, TempDir: tb.TempDir(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return sh, stdout, stderr, root
}

func TestBundleShellRefusesOutside(t *testing.T) {
	local := filepath.Join(t.TempDir(), "local.txt")
	sftptest.WriteFiles(t, map[string]string{local: "local\n"})
	fetched := filepath.Join(t.TempDir(), "x") // where a refused get must not write
	for _, args := range [][]string{
		{"cat", ".conc-agent"},
		{"cat", "up"},
		{"cat", "sibling"},
		{"cat", "../secret.txt"},
		{"cat", "/etc/passwd"},
		{"ls", ".."},
		{"cd", "up"},
		{"get", "sub/back", fetched},
		{"put", local, "up"},
		{"put", local, "../x"},
		{"mkdir", "../new"},
		{"rm", "../secret.txt"},
		{"edit", ".conc-agent"},
	} {
		name := strings.ReplaceAll(strings.ReplaceAll(strings.Join(args, " "), local, "LOCAL"), fetched, "FETCHED")
		t.Run(name, func(t *testing.T) {
			edited := false
			sh, stdout, _, _ := newTestShell(t, "", func(context.Context, string) error { edited = true; return nil })
			err := sh.Exec(context.Background(), args)
			if !errors.Is(err, bundlefs.ErrOutside) {
				t.Errorf("%v: %v; want refused as outside the bundle", args, err)
			}
			if strings.Contains(stdout.String(), "secret") || strings.Contains(stdout.String(), "agent") || edited {
				t.Errorf("%v reached outside the bundle: %q", args, stdout)
			}
			if sh.pwd() != "/" {
				t.Errorf("the shell moved to %s", sh.pwd())
			}
			if _, err := os.Stat(fetched); err == nil {
				t.Errorf("%v wrote %s", args, fetched)
			}
		})
	}
}

func TestBundleShellRemovesLinkNotTarget(t *testing.T) {
	sh, _, _, root := newTestShell(t, "", nil)
	if err := sh.Exec(context.Background(), []string{"rm", ".conc-agent"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, ".conc-agent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), ".cache", "conc", "conc-agent-abc")); err != nil {
		t.Errorf("the link's target went: %v", err)
	}
	if err := sh.Exec(context.Background(), []string{"rm", "-r", "/"}); err == nil || !strings.Contains(err.Error(), "conc unlock") {
		t.Errorf("rm -r / = %v; want refused, pointing at conc unlock", err)
	}
}

func TestBundleShellScript(t *testing.T) {
	script := "cd current\npwd\nls\ncat f.txt\ncat nope.txt\n# a comment\ncd /\npwd\nexit\npwd\n"
	sh, stdout, stderr, _ := newTestShell(t, script, nil)
	err := sh.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "1 of the script's commands failed") {
		t.Errorf("Run = %v; want one command reported failed", err)
	}
	want := "/sub\n" // cd follows the link to the real directory
	if out := stdout.String(); !strings.HasPrefix(out, want) || !strings.Contains(out, " f.txt\n") ||
		!strings.Contains(out, "lrwxrwxrwx") || !strings.Contains(out, "back -> ../up\n") ||
		!strings.HasSuffix(out, "inside\n/\n") {
		t.Errorf("stdout:\n%s", out)
	}
	if e := stderr.String(); e != "conc: cat nope.txt: no such file in the bundle\n" {
		t.Errorf("stderr: %q; want one error line for cat nope.txt", e)
	}
}

func TestCheckBundleCommand(t *testing.T) {
	tests := []struct {
		args    []string
		oneShot bool
		want    string // substring of the error; "" for none
	}{
		{args: []string{"ls"}},
		{args: []string{"rm", "-r", "dir"}, oneShot: true},
		{args: []string{"rm", "x", "y"}, want: "usage: rm [-r] PATH"},
		{args: []string{"rm", "-r"}, want: "usage: rm"},
		{args: []string{"get"}, want: "usage: get REMOTE [LOCAL]"},
		{args: []string{"cd", "x"}, oneShot: true, want: "interactive shell only"},
		{args: []string{"frob"}, want: `unknown command "frob"`},
	}
	for _, tt := range tests {
		err := CheckCommand(tt.args, tt.oneShot)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckCommand(%q, %v) = %v; want %q", tt.args, tt.oneShot, err, tt.want)
		}
	}
}
