package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
)

// inApp runs f on an app set up like project.conc's, with stdin, and
// returns what it printed and the exit code f returns.
func inApp(p *project, stdin string, f func(a *app) int) result {
	p.t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, agents: agents}
	code := f(a)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// concInput runs conc in-process like project.conc, with stdin.
func concInput(p *project, stdin string, args ...string) result {
	p.t.Helper()
	var files []string
	for _, f := range append(p.layers, p.file) {
		files = append(files, "-f", f)
	}
	return inApp(p, stdin, func(a *app) int { return a.execute(context.Background(), append(files, args...)) })
}

// runBundleOpts calls conc bundle's run function directly, to give it an
// environment of its own.
func runBundleOpts(p *project, stdin string, o *bundleOptions) result {
	p.t.Helper()
	return inApp(p, stdin, func(a *app) int {
		a.files = append(append([]string(nil), p.layers...), p.file)
		return a.exitCode(a.runBundle(context.Background(), o))
	})
}

// makeBundle makes the node's bundle, as a stopped run leaves it, with the
// files given (path relative to the bundle: content), each 0640.
func makeBundle(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			tb.Fatal(err)
		}
	}
}

// writeLocal writes a file on the workstation side with the given mode.
func writeLocal(tb testing.TB, path, data string, mode fs.FileMode) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		tb.Fatal(err)
	}
}

// checkFile checks a file's content and permission bits.
func checkFile(tb testing.TB, path, want string, mode fs.FileMode) {
	tb.Helper()
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		tb.Errorf("%s = %q, %v; want %q", path, got, err, want)
		return
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
		tb.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, mode)
	}
}

func TestBundleOneShot(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		b := p.bundleDir()
		makeBundle(t, b, map[string]string{"app.cfg": "v1\n", "sub/old.txt": "old\n"})
		local := t.TempDir()
		writeLocal(t, filepath.Join(local, "new.txt"), "new\n", 0o604)

		ok := func(args ...string) result {
			t.Helper()
			r := p.conc(append([]string{"bundle", "node1"}, args...)...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("conc bundle node1 %s: %s", strings.Join(args, " "), r)
			}
			return r
		}
		if r := ok("put", filepath.Join(local, "new.txt"), "sub"); r.stdout != "put "+filepath.Join(local, "new.txt")+" -> sub/new.txt (4 B)\n" {
			t.Errorf("put says %q; want what it moved where", r.stdout)
		}
		checkFile(t, filepath.Join(b, "sub", "new.txt"), "new\n", 0o604)

		r := ok("ls")
		for _, want := range []string{"drwx------ ", " sub/\n", "-rw-r----- ", " app.cfg\n"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("ls lacks %q:\n%s", want, r.stdout)
			}
		}
		if r = ok("ls", "sub"); !strings.Contains(r.stdout, " new.txt\n") || !strings.Contains(r.stdout, " old.txt\n") {
			t.Errorf("ls sub:\n%s", r.stdout)
		}
		if r = ok("cat", "app.cfg"); r.stdout != "v1\n" {
			t.Errorf("cat app.cfg = %q", r.stdout)
		}
		if r := ok("get", "app.cfg", local); r.stdout != "get app.cfg -> "+filepath.Join(local, "app.cfg")+" (3 B)\n" {
			t.Errorf("get says %q; want what it moved where", r.stdout)
		}
		checkFile(t, filepath.Join(local, "app.cfg"), "v1\n", 0o640)

		ok("mkdir", "logs")
		if fi, err := os.Stat(filepath.Join(b, "logs")); err != nil || !fi.IsDir() {
			t.Errorf("mkdir logs: %v", err)
		}
		r = p.conc("bundle", "node1", "rm", "sub")
		if r.code != 1 || !strings.Contains(r.stderr, "conc: rm sub: a directory; rm -r") || !exists(filepath.Join(b, "sub", "old.txt")) {
			t.Errorf("rm of a directory without -r: %s", r)
		}
		ok("rm", "-r", "sub")
		ok("rm", "app.cfg")
		if exists(filepath.Join(b, "sub")) || exists(filepath.Join(b, "app.cfg")) {
			t.Error("rm left what it removed")
		}
	})
}

func TestBundlePutReplacesAtomically(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		b := p.bundleDir()
		makeBundle(t, b, map[string]string{"app/app.cfg": "old contents\n"})
		target := filepath.Join(b, "app", "app.cfg")
		// A hard link keeps the old file: a rename over the target leaves
		// it alone, where writing into the target would change it.
		if err := os.Link(target, filepath.Join(b, "old.cfg")); err != nil {
			t.Fatal(err)
		}
		src := filepath.Join(t.TempDir(), "fixed.cfg")
		writeLocal(t, src, "fixed contents\n", 0o600)

		if r := p.conc("bundle", "node1", "put", src, "app/app.cfg"); r.code != 0 {
			t.Fatalf("put: %s", r)
		}
		checkFile(t, target, "fixed contents\n", 0o600)
		checkFile(t, filepath.Join(b, "old.cfg"), "old contents\n", 0o640)
		entries, _ := os.ReadDir(filepath.Join(b, "app"))
		if len(entries) != 1 {
			t.Errorf("the directory holds %v; want app.cfg alone, no temporary file", entries)
		}
	})
}

func TestBundleRefusesOutside(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		b := p.bundleDir()
		makeBundle(t, b, map[string]string{"app.cfg": "v1\n"})
		secret := p.nodePath("secret.txt")
		writeLocal(t, secret, "the secret\n", 0o600)
		agent := p.nodePath(".cache/conc/conc-agent-0123")
		os.MkdirAll(filepath.Dir(agent), 0o700)
		writeLocal(t, agent, "the agent\n", 0o700)
		// As open_bundle leaves it: an absolute link into the agent cache.
		if err := os.Symlink(agent, filepath.Join(b, ".conc-agent")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../secret.txt", filepath.Join(b, "up")); err != nil {
			t.Fatal(err)
		}
		local := t.TempDir()
		writeLocal(t, filepath.Join(local, "x"), "x\n", 0o600)

		for _, tc := range []struct {
			args    []string
			symlink bool
		}{
			{args: []string{"cat", "../secret.txt"}},
			{args: []string{"cat", "/etc/passwd"}},
			{args: []string{"cat", ".conc-agent"}, symlink: true},
			{args: []string{"get", "up", local}, symlink: true},
			{args: []string{"ls", "up"}, symlink: true},
			{args: []string{"put", filepath.Join(local, "x"), "../x"}},
			{args: []string{"put", filepath.Join(local, "x"), "up"}, symlink: true},
			{args: []string{"mkdir", "../newdir"}},
			{args: []string{"rm", "../secret.txt"}},
		} {
			r := p.conc(append([]string{"bundle", "node1"}, tc.args...)...)
			what := strings.Join(tc.args, " ")
			if r.code != 1 || !strings.Contains(r.stderr, "outside the bundle "+b) {
				t.Errorf("%s: want refused as outside the bundle: %s", what, r)
			}
			if tc.symlink && !strings.Contains(r.stderr, "through a symlink") {
				t.Errorf("%s: the refusal does not name the symlink: %s", what, r.stderr)
			}
			if strings.Contains(r.stdout, "secret") || strings.Contains(r.stdout, "agent") || strings.Contains(r.stdout, "root:") {
				t.Errorf("%s printed what is outside the bundle: %s", what, r)
			}
		}
		checkFile(t, secret, "the secret\n", 0o600)
		checkFile(t, agent, "the agent\n", 0o700)
		for _, p := range []string{p.nodePath("x"), p.nodePath("newdir"), filepath.Join(local, "up")} {
			if exists(p) {
				t.Errorf("%s was created", p)
			}
		}
	})
}

func TestBundleShellScript(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		makeBundle(t, p.bundleDir(), map[string]string{"app.cfg": "v1\n", "sub/a file.txt": "hello\n"})
		r := concInput(p, "cd sub\npwd\nls\ncat 'a file.txt'\ncd ..\npwd\nexit\ncat app.cfg\n", "bundle", "node1")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("the script: %s", r)
		}
		lines := strings.Split(r.stdout, "\n")
		if len(lines) != 5 || lines[0] != "/sub" || !strings.HasSuffix(lines[1], " a file.txt") ||
			lines[2] != "hello" || lines[3] != "/" || lines[4] != "" {
			t.Errorf("stdout (no prompt without a terminal, nothing after exit):\n%s", r.stdout)
		}

		// A failed command does not stop the script; the exit code tells.
		r = concInput(p, "cat nope.txt\ncd sub\npwd\n", "bundle", "node1")
		if r.code != 1 || r.stdout != "/sub\n" || !strings.HasPrefix(r.stderr, "conc: cat nope.txt: no such file in the bundle\n") ||
			!strings.HasSuffix(r.stderr, "conc: 1 of the script's commands failed\n") {
			t.Errorf("a script with a failing command: %s", r)
		}
	})
}

func TestBundleEdit(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		b := p.bundleDir()
		makeBundle(t, b, map[string]string{"app.cfg": "v1\n", "same.cfg": "same\n"})
		script := filepath.Join(t.TempDir(), "editor.sh")
		writeLocal(t, script, "printf 'edited in %s\\n' \"$(basename \"$1\")\" >> \"$1\"\n", 0o600)
		tmp := t.TempDir()
		env := func(editor string) func(string) string {
			return func(k string) string {
				if k == "EDITOR" {
					return editor
				}
				return ""
			}
		}

		r := runBundleOpts(p, "", &bundleOptions{node: "node1", args: []string{"edit", "app.cfg"}, getenv: env("/bin/sh " + script), tempDir: tmp})
		if r.code != 0 || !strings.Contains(r.stdout, "app.cfg written") {
			t.Fatalf("edit app.cfg: %s", r)
		}
		if got, _ := os.ReadFile(filepath.Join(b, "app.cfg")); !strings.HasPrefix(string(got), "v1\nedited in conc-edit-") {
			t.Errorf("app.cfg = %q; want the editor's line appended", got)
		}
		if fi, err := os.Stat(filepath.Join(b, "app.cfg")); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("app.cfg lost its mode 0640: %v %v", fi.Mode(), err)
		}

		// In the shell, a new file is created 0600.
		r = runBundleOpts(p, "cd /\nedit notes.txt\n", &bundleOptions{node: "node1", getenv: env("/bin/sh " + script), tempDir: tmp})
		if r.code != 0 {
			t.Fatalf("edit notes.txt in the shell: %s", r)
		}
		if fi, err := os.Stat(filepath.Join(b, "notes.txt")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
			t.Errorf("notes.txt: %v, %v; want it made 0600 with the editor's line", fi, err)
		}

		// An editor that changes nothing writes nothing.
		before, _ := os.Stat(filepath.Join(b, "same.cfg"))
		r = runBundleOpts(p, "", &bundleOptions{node: "node1", args: []string{"edit", "same.cfg"}, getenv: env("true"), tempDir: tmp})
		after, _ := os.Stat(filepath.Join(b, "same.cfg"))
		if r.code != 0 || !strings.Contains(r.stdout, "same.cfg unchanged") || !os.SameFile(before, after) {
			t.Errorf("edit with no change: %s", r)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("edit left local copies: %v", left)
		}
	})
}

func TestBundleMissing(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		for _, args := range [][]string{{"bundle", "node1"}, {"bundle", "node1", "ls"}} {
			r := p.conc(args...)
			if r.code != 1 || r.stderr != "conc: node1 is not locked: there is no bundle ~/.conc-bundle\n" {
				t.Errorf("conc %s without a bundle: %s", strings.Join(args, " "), r)
			}
		}
		if exists(p.bundleDir()) {
			t.Error("conc bundle created the bundle")
		}
	})
}

func TestBundleUsage(t *testing.T) {
	p := newProject(t, testnode.InProcess(t), "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{args: []string{"bundle"}, want: "bundle needs a node"},
		{args: []string{"bundle", "node9"}, want: `no node or group "node9"`},
		{args: []string{"bundle", "node1", "frob"}, want: `unknown command "frob"`},
		{args: []string{"bundle", "node1", "cd", "sub"}, want: "cd is a command of the interactive shell only"},
		{args: []string{"bundle", "node1", "rm"}, want: "usage: rm [-r] PATH"},
	} {
		r := p.conc(tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("conc %s: %s; want exit 2 and %q", strings.Join(tc.args, " "), r, tc.want)
		}
	}
}
