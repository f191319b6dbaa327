package bundleshell

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"
)

func TestBundlePath(t *testing.T) {
	const root = "/home/deploy/.conc-bundle"
	tests := []struct {
		name, cwd, p string
		want         string // "" means refused
	}{
		{name: "relative", cwd: ".", p: "a/b", want: "a/b"},
		{name: "from a subdirectory", cwd: "sub", p: "x", want: "sub/x"},
		{name: "dot dot inside", cwd: "sub", p: "../x", want: "x"},
		{name: "dot dot to the top", cwd: "sub", p: "..", want: "."},
		{name: "empty is the directory", cwd: "sub", p: "", want: "sub"},
		{name: "slash is the top", cwd: "sub", p: "/", want: "."},
		{name: "absolute root", cwd: "sub", p: root, want: "."},
		{name: "absolute inside", cwd: ".", p: root + "/venv//bin/", want: "venv/bin"},
		{name: "dot dot out", cwd: ".", p: "../x", want: ""},
		{name: "dot dot out of a subdirectory", cwd: "sub", p: "../../x", want: ""},
		{name: "dot dot hidden in the middle", cwd: ".", p: "a/../../x", want: ""},
		{name: "bare dot dot", cwd: ".", p: "..", want: ""},
		{name: "absolute outside", cwd: ".", p: "/etc/passwd", want: ""},
		{name: "absolute sibling with the bundle as prefix", cwd: ".", p: root + "x/y", want: ""},
		{name: "absolute escaping by dot dot", cwd: ".", p: root + "/../.ssh/id_rsa", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bundlePath(root, tt.cwd, tt.p)
			if tt.want == "" {
				if !errors.Is(err, ErrOutsideBundle) {
					t.Errorf("bundlePath(%q, %q) = %q, %v; want refused as outside the bundle", tt.cwd, tt.p, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("bundlePath(%q, %q) = %q, %v; want %q", tt.cwd, tt.p, got, err, tt.want)
			}
		})
	}
}

// pipeSFTP serves dir with pkg/sftp's server over pipes and returns a
// client whose relative paths resolve in dir. pkg/sftp's server answers
// realpath without resolving links, so these tests see the client-side
// walk alone.
func pipeSFTP(tb testing.TB, dir string) *sftp.Client {
	tb.Helper()
	cr, sw, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	sr, cw, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := sftp.NewServer(struct {
		io.Reader
		io.WriteCloser
	}{sr, sw}, sftp.WithServerWorkingDirectory(dir))
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve() // returns when the client closes its end
		srv.Close()
	}()
	c, err := sftp.NewClientPipe(cr, cw)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c.Close()
		<-done
		sr.Close()
		cr.Close()
	})
	return c
}

// linkedHome is a home with a bundle holding files, and symlinks inside
// and outside of it.
func linkedHome(tb testing.TB) (home, bundleDir string) {
	tb.Helper()
	home = tb.TempDir()
	bundleDir = filepath.Join(home, ".conc-bundle")
	mkdirs(tb, filepath.Join(bundleDir, "sub"), filepath.Join(home, ".cache", "conc"))
	writeFiles(tb, map[string]string{
		filepath.Join(bundleDir, "sub", "f.txt"):                   "inside\n",
		filepath.Join(home, ".cache", "conc", "conc-agent-abc"):    "agent\n",
		filepath.Join(home, "secret.txt"):                          "secret\n",
		filepath.Join(home, ".conc-bundle-other", "x"):             "sibling\n",
		filepath.Join(home, ".cache", "conc", "back", "README.md"): "",
	})
	for name, target := range map[string]string{
		".conc-agent": filepath.Join(home, ".cache", "conc", "conc-agent-abc"), // absolute, outside
		"up":          "../secret.txt",                                         // relative, outside
		"sibling":     "../.conc-bundle-other/x",                               // a prefix of the bundle's name
		"current":     "sub",                                                   // relative, inside
		"abs-inside":  filepath.Join(bundleDir, "sub", "f.txt"),                // absolute, inside
		"chain":       "current/f.txt",                                         // a link through a link
		"sub/back":    "../up",                                                 // a link to a link outside
		"sub/top":     "..",                                                    // the top, from below
		"loop":        "loop",
	} {
		if err := os.Symlink(target, filepath.Join(bundleDir, name)); err != nil {
			tb.Fatal(err)
		}
	}
	return home, bundleDir
}

func mkdirs(tb testing.TB, dirs ...string) {
	tb.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
}

func writeFiles(tb testing.TB, files map[string]string) {
	tb.Helper()
	for p, data := range files {
		mkdirs(tb, filepath.Dir(p))
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestBundleWalkLinks(t *testing.T) {
	home, root := linkedHome(t)
	c := pipeSFTP(t, home)
	tests := []struct {
		name, rel string
		follow    bool
		want      string // relative to root; "" means refused
	}{
		{name: "plain file", rel: "sub/f.txt", follow: true, want: "sub/f.txt"},
		{name: "missing file keeps its name", rel: "sub/new.txt", follow: true, want: "sub/new.txt"},
		{name: "missing directories", rel: "no/such/dir", follow: true, want: "no/such/dir"},
		{name: "relative link inside", rel: "current/f.txt", follow: true, want: "sub/f.txt"},
		{name: "absolute link inside", rel: "abs-inside", follow: true, want: "sub/f.txt"},
		{name: "link through a link", rel: "chain", follow: true, want: "sub/f.txt"},
		{name: "link to the top", rel: "sub/top/sub/f.txt", follow: true, want: "sub/f.txt"},
		{name: "absolute link outside", rel: ".conc-agent", follow: true},
		{name: "relative link outside", rel: "up", follow: true},
		{name: "link to a sibling with the bundle's name as prefix", rel: "sibling", follow: true},
		{name: "link to a link outside", rel: "sub/back", follow: true},
		{name: "a name below a link outside", rel: "up/x", follow: false},
		{name: "last link kept", rel: ".conc-agent", follow: false, want: ".conc-agent"},
		{name: "last link kept below a link inside", rel: "current/back", follow: false, want: "sub/back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := walkLinks(c, root, tt.rel, tt.follow)
			if tt.want == "" {
				var oe *OutsideError
				if !errors.As(err, &oe) || !oe.Symlink {
					t.Fatalf("walkLinks(%q) = %q, %v; want refused as a symlink outside the bundle", tt.rel, got, err)
				}
				if within(root, oe.Target) {
					t.Errorf("the refusal names %s, which is inside the bundle", oe.Target)
				}
				return
			}
			if want := filepath.Join(root, tt.want); err != nil || got != want {
				t.Errorf("walkLinks(%q) = %q, %v; want %q", tt.rel, got, err, want)
			}
		})
	}
	t.Run("loop", func(t *testing.T) {
		if got, err := walkLinks(c, root, "loop", true); err == nil || !strings.Contains(err.Error(), "too many levels of symlinks") {
			t.Errorf("walkLinks(loop) = %q, %v; want too many levels of symlinks", got, err)
		}
	})
}

// newTestShell opens a bundle shell on the bundle of linkedHome, reading
// the script from stdin.
func newTestShell(tb testing.TB, script string, edit EditFunc) (sh *Shell, stdout, stderr *bytes.Buffer, root string) {
	tb.Helper()
	home, root := linkedHome(tb)
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	sh, err := New(pipeSFTP(tb, home), Config{
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
	writeFiles(t, map[string]string{local: "local\n"})
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
			if !errors.Is(err, ErrOutsideBundle) {
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
	if e := stderr.String(); !strings.HasPrefix(e, "conc: cat: ") || strings.Count(e, "\n") != 1 {
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
