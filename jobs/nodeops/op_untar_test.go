package nodeops

import (
	"archive/tar"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/jobs"
)

// tarEntry is an archive member for tests.
type tarEntry struct {
	name string
	typ  byte
	mode int64
	body string // a file's content
	link string // a link's target
}

func tarFile(name string, mode int64, body string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeReg, mode: mode, body: body}
}
func tarDir(name string, mode int64) tarEntry {
	return tarEntry{name: name, typ: tar.TypeDir, mode: mode}
}
func tarSymlink(name, target string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func tarHardlink(name, target string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeLink, mode: 0o644, link: target}
}

// writeArchive writes the entries as a tar file at path, gzipped unless
// path ends in .tar.
func writeArchive(tb testing.TB, path string, entries ...tarEntry) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var w io.Writer = f
	if !strings.HasSuffix(path, ".tar") {
		zw := gzip.NewWriter(f)
		defer zw.Close()
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link,
			Size: int64(len(e.body)), ModTime: time.Unix(1e9, 0)}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
}

// treeOf describes every path under dir: type, mode, and content or link
// target.
func treeOf(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	s := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			desc += " -> " + t
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += " " + string(b)
		}
		s[relTo(dir, p)] = desc
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func untarStep(tb testing.TB, env *testEnv, args ...string) jobs.Result {
	tb.Helper()
	return runStep(tb, env, context.Background(), time.Minute, jobs.Remote, append([]string{"untar"}, args...)...)
}

func TestUntarGood(t *testing.T) {
	entries := []tarEntry{
		tarDir("./", 0o755),
		tarDir("app/", 0o750),
		tarFile("app/bin/run", 0o4755, "#!/bin/sh\n"), // setuid is dropped; app/bin is implicit
		tarFile("app/etc/conf", 0o640, "key = value\n"),
		tarSymlink("app/current", "bin/run"),
		tarSymlink("app/etc/up", "../bin"),
		tarHardlink("app/etc/conf2", "app/etc/conf"),
		tarDir("app/ro/", 0o555),
		tarFile("app/ro/f", 0o444, "read only\n"),
	}
	for _, name := range []string{"app-1.0.tar.gz", "app-1.0.tgz", "app-1.0.tar"} {
		for _, into := range []string{"", "sub/dir"} {
			t.Run(name+" into "+into, func(t *testing.T) {
				env := newTestEnv(t)
				writeArchive(t, filepath.Join(env.dir, name), entries...)
				args := []string{"app-*"}
				if into != "" {
					args = append(args, "--into", into)
				}
				res := untarStep(t, env, args...)
				wantMsg := fmt.Sprintf("1 archive(s), 9 member(s) into %s", cmp.Or(into, "."))
				if res.Status != jobs.OK || res.Message != wantMsg {
					t.Fatalf("got %s %q, want OK %q", res.Status, res.Message, wantMsg)
				}
				got := treeOf(t, filepath.Join(env.dir, into, "app"))
				want := map[string]string{
					".":         "drwxr-x---",
					"bin":       "drwxr-xr-x",
					"bin/run":   "-rwxr-xr-x #!/bin/sh\n",
					"etc":       "drwxr-xr-x",
					"etc/conf":  "-rw-r----- key = value\n",
					"etc/conf2": "-rw-r----- key = value\n",
					"etc/up":    "Lrwxrwxrwx -> ../bin",
					"current":   "Lrwxrwxrwx -> bin/run",
					"ro":        "dr-xr-xr-x",
					"ro/f":      "-r--r--r-- read only\n",
				}
				if !maps.Equal(got, want) {
					t.Errorf("unpacked\n%v\nwant\n%v", got, want)
				}
				a, _ := os.Stat(filepath.Join(env.dir, into, "app/etc/conf"))
				b, _ := os.Stat(filepath.Join(env.dir, into, "app/etc/conf2"))
				if !os.SameFile(a, b) {
					t.Errorf("app/etc/conf2 is not a hard link to app/etc/conf")
				}
				os.Chmod(filepath.Join(env.dir, into, "app/ro"), 0o755) // let TempDir clean up
			})
		}
	}
}

func TestUntarMatches(t *testing.T) {
	tests := []struct {
		name       string
		archives   []string
		dirs       []string
		args       []string
		wantStatus jobs.Status
		wantMsg    []string
	}{
		{"none", nil, nil, []string{"app-*.tgz"}, jobs.Failed,
			[]string{`"app-*.tgz" matches no archive in `}},
		{"only a directory", nil, []string{"app-1.tgz"}, []string{"app-*.tgz"}, jobs.Failed,
			[]string{`"app-*.tgz" matches no archive`}},
		{"one, and an unpacked directory", []string{"app-1.tgz"}, []string{"app-1"}, []string{"app-*"}, jobs.OK,
			[]string{"1 archive(s), 1 member(s)"}},
		{"several", []string{"app-1.tgz", "app-2.tar"}, nil, []string{"app-*"}, jobs.Failed,
			[]string{`"app-*" matches 2 archives`, "app-1.tgz, app-2.tar", "--all"}},
		{"several with --all", []string{"app-1.tgz", "app-2.tar"}, nil, []string{"app-*", "--all"}, jobs.OK,
			[]string{"2 archive(s), 2 member(s) into ."}},
		{"not an archive", []string{"app-1.zip"}, nil, []string{"app-*"}, jobs.Failed,
			[]string{"app-1.zip is not a .tar.gz, .tgz or .tar"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			for i, a := range tt.archives {
				writeArchive(t, filepath.Join(env.dir, a), tarFile(fmt.Sprintf("f%d", i), 0o644, a))
			}
			for _, d := range tt.dirs {
				if err := os.Mkdir(filepath.Join(env.dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			res := untarStep(t, env, tt.args...)
			if res.Status != tt.wantStatus {
				t.Errorf("got %s %q, want %s", res.Status, res.Message, tt.wantStatus)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(res.Message, w) {
					t.Errorf("message %q, want it to contain %q", res.Message, w)
				}
			}
		})
	}
}

func TestUntarRejects(t *testing.T) {
	ok := tarFile("ok.txt", 0o644, "fine\n") // first in every archive: never written
	tests := []struct {
		name    string
		entries []tarEntry
		onDisk  map[string]string // symlinks in the target before the untar; "OUT" is the outside dir
		want    string
	}{
		{"absolute", []tarEntry{ok, tarFile("/etc/evil", 0o644, "x")},
			nil, `app.tar.gz: member "/etc/evil" is an absolute path`},
		{"dot dot", []tarEntry{ok, tarFile("../../etc/passwd", 0o644, "x")},
			nil, `app.tar.gz: member "../../etc/passwd" leaves the target directory`},
		{"dot dot inside", []tarEntry{ok, tarFile("a/../../x", 0o644, "x")},
			nil, `app.tar.gz: member "a/../../x" leaves the target directory`},
		{"symlink relative", []tarEntry{ok, tarSymlink("sub/link", "../../outside")},
			nil, `app.tar.gz: member "sub/link" is a symlink to "../../outside", outside the target directory`},
		{"symlink absolute", []tarEntry{ok, tarSymlink("link", "/etc")},
			nil, `app.tar.gz: member "link" is a symlink to "/etc", outside the target directory`},
		{"symlink through symlink", []tarEntry{ok, tarSymlink("a", "."), tarSymlink("b", "a/..")},
			nil, `app.tar.gz: member "b" is a symlink to "a/..", outside the target directory`},
		{"symlink then write through", []tarEntry{ok, tarSymlink("link", "../out"), tarFile("link/passwd", 0o644, "x")},
			nil, `app.tar.gz: member "link" is a symlink to "../out"`},
		{"write through a symlink on disk", []tarEntry{ok, tarFile("pre/passwd", 0o644, "x")},
			map[string]string{"pre": "OUT"}, `app.tar.gz: member "pre/passwd" leaves the target directory through a symlink`},
		{"symlink through a symlink on disk", []tarEntry{ok, tarSymlink("l", "pre/x")},
			map[string]string{"pre": ".."}, `app.tar.gz: member "l" is a symlink to "pre/x", outside`},
		{"hard link relative", []tarEntry{ok, tarHardlink("hl", "../outside/file")},
			nil, `app.tar.gz: member "hl" is a hard link to "../outside/file", outside the target directory`},
		{"hard link absolute", []tarEntry{ok, tarHardlink("hl", "/etc/passwd")},
			nil, `app.tar.gz: member "hl" is a hard link to "/etc/passwd", outside the target directory`},
		{"hard link through a symlink", []tarEntry{ok, tarSymlink("up", "."), tarSymlink("d", "up"), tarHardlink("hl", "d/../x")},
			nil, `app.tar.gz: member "hl" is a hard link to "d/../x"`},
		{"hard link to a symlink", []tarEntry{ok, tarSymlink("s", "ok.txt"), tarHardlink("hl", "s")},
			nil, `app.tar.gz: member "hl" is a hard link to the symlink "s"`},
		{"character device", []tarEntry{ok, {name: "null", typ: tar.TypeChar, mode: 0o666}},
			nil, `app.tar.gz: member "null" is a character device`},
		{"block device", []tarEntry{ok, {name: "sda", typ: tar.TypeBlock, mode: 0o666}},
			nil, `app.tar.gz: member "sda" is a block device`},
		{"fifo", []tarEntry{ok, {name: "pipe", typ: tar.TypeFifo, mode: 0o666}},
			nil, `app.tar.gz: member "pipe" is a fifo`},
		{"file as a directory", []tarEntry{ok, tarFile("f", 0o644, ""), tarFile("f/x", 0o644, "")},
			nil, `app.tar.gz: member "f/x" is under "f", which is not a directory`},
		{"conc's own files", []tarEntry{ok, tarFile(".conc-lock.json", 0o644, "{}")},
			nil, `app.tar.gz: member ".conc-lock.json" would replace conc's own files in the bundle`},
		{"replaces the target", []tarEntry{ok, tarSymlink(".", "/")},
			nil, `app.tar.gz: member "." would replace the target directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			out := t.TempDir()
			writeArchive(t, filepath.Join(env.dir, "app.tar.gz"), tt.entries...)
			for name, target := range tt.onDisk {
				if target == "OUT" {
					target = out
				}
				if err := os.Symlink(target, filepath.Join(env.dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			before := treeOf(t, env.dir)
			res := untarStep(t, env, "app.tar.gz")
			if res.Status != jobs.Failed || !strings.HasPrefix(res.Message, tt.want) {
				t.Errorf("got %s %q, want FAILED %q", res.Status, res.Message, tt.want)
			}
			if after := treeOf(t, env.dir); !maps.Equal(after, before) {
				t.Errorf("the target changed:\n%v\nwas\n%v", after, before)
			}
			if got := treeOf(t, out); len(got) != 1 {
				t.Errorf("outside the target: %v", got)
			}
			if _, err := os.Lstat(filepath.Join(env.dir, "..", "outside")); err == nil {
				t.Errorf("%s/../outside was created", env.dir)
			}
		})
	}
}

// TestUntarReplacesSymlinks checks that a member replaces a symlink already
// at its path rather than writing through it.
func TestUntarReplacesSymlinks(t *testing.T) {
	env := newTestEnv(t)
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(env.dir, "conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(env.dir, "d")); err != nil {
		t.Fatal(err)
	}
	writeArchive(t, filepath.Join(env.dir, "app.tgz"), tarFile("conf", 0o600, "new\n"), tarDir("d", 0o700))
	if res := untarStep(t, env, "app.tgz"); res.Status != jobs.OK {
		t.Fatalf("got %s %q, want OK", res.Status, res.Message)
	}
	if b, _ := os.ReadFile(outside); string(b) != "original\n" {
		t.Errorf("the file outside now holds %q", b)
	}
	got := treeOf(t, env.dir)
	want := map[string]string{"conf": "-rw------- new\n", "d": "drwx------"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s is %q, want %q", name, got[name], w)
		}
	}
}

func TestUntarIntoSymlinkOutside(t *testing.T) {
	env := newTestEnv(t)
	out := t.TempDir()
	if err := os.Symlink(out, filepath.Join(env.dir, "sub")); err != nil {
		t.Fatal(err)
	}
	writeArchive(t, filepath.Join(env.dir, "app.tgz"), tarFile("f", 0o644, "x"))
	res := untarStep(t, env, "app.tgz", "--into", "sub")
	if res.Status != jobs.Failed || !strings.Contains(res.Message, "sub") {
		t.Errorf("got %s %q, want FAILED naming sub", res.Status, res.Message)
	}
	if got := treeOf(t, out); len(got) != 1 {
		t.Errorf("written outside the bundle: %v", got)
	}
}

func TestUntarPrepareErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no glob", nil, "needs exactly one GLOB"},
		{"two globs", []string{"a.tgz", "b.tgz"}, "needs exactly one GLOB"},
		{"bad glob", []string{"[a.tgz"}, "bad glob"},
		{"absolute glob", []string{"/tmp/*.tgz"}, "must be relative to the bundle"},
		{"glob leaves the bundle", []string{"../*.tgz"}, "leaves the bundle"},
		{"into leaves the bundle", []string{"a.tgz", "--into", "x/../../y"}, "--into"},
		{"into absolute", []string{"a.tgz", "--into", "/srv"}, "--into"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Prepare(jobs.Job{Host: jobs.Remote, Op: "untar", Args: tt.args})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Prepare(jobs.Job{Host: jobs.Local, Op: "untar", Args: []string{"a.tgz"}}); err == nil {
		t.Errorf("local untar prepared, want an error")
	}
}

// TestUntarRejectsBeforeInto checks that a bad archive leaves no trace,
// not even the --into directory.
func TestUntarRejectsBeforeInto(t *testing.T) {
	env := newTestEnv(t)
	writeArchive(t, filepath.Join(env.dir, "app.tgz"), tarFile("ok", 0o644, ""), tarFile("../x", 0o644, ""))
	before := treeOf(t, env.dir)
	res := untarStep(t, env, "app.tgz", "--into", "new/dir")
	if res.Status != jobs.Failed || !strings.Contains(res.Message, `member "../x"`) {
		t.Errorf("got %s %q, want FAILED naming ../x", res.Status, res.Message)
	}
	if after := treeOf(t, env.dir); !maps.Equal(after, before) {
		t.Errorf("the bundle changed:\n%v\nwas\n%v", after, before)
	}
}
