package localops

import (
	"context"
	"errors"
	"fmt"
	"github.com/concdeploy/conc/channel"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/jobs"
)

func TestCopyProduct(t *testing.T) {
	env := newTestEnv(t, jobs.Local)
	files := map[string]os.FileMode{"dist/app-1.whl": 0o644, "vendor/a.tar.gz": 0o600, "vendor/bin/tool": 0o755}
	for f, mode := range files {
		p := filepath.Join(env.dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(f), mode)
		os.Chmod(p, mode)
	}
	res := runOp(t, env, "copy_product", "dist/*.whl", "vendor", "--to", "rel")
	if res.Status != jobs.OK {
		t.Fatalf("copy_product: %s %s", res.Status, res.Message)
	}
	for rel, mode := range map[string]os.FileMode{"rel/app-1.whl": 0o644, "rel/vendor/a.tar.gz": 0o600, "rel/vendor/bin/tool": 0o755} {
		fi, err := os.Stat(filepath.Join(env.node, "bundle", rel))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v mode %v, want %v", rel, err, fi, mode)
		}
	}
	if !strings.Contains(res.Message, "3 file(s)") {
		t.Errorf("message %q, want the file count", res.Message)
	}
}

func TestCopyProductNoMatch(t *testing.T) {
	env := newTestEnv(t, jobs.Local)
	res := runOp(t, env, "copy_product", "dist/*.whl")
	if res.Status != jobs.Failed || !strings.Contains(res.Message, `"dist/*.whl" matches no file`) {
		t.Errorf("got %s %q, want FAILED naming the glob", res.Status, res.Message)
	}
}

func TestPutRefusesDirectory(t *testing.T) {
	env := newTestEnv(t, jobs.Local)
	os.Mkdir(filepath.Join(env.dir, "d"), 0o755)
	res := runOp(t, env, "put", "d")
	if res.Status != jobs.Failed || !strings.Contains(res.Message, "copy_product") {
		t.Errorf("got %s %q, want FAILED pointing at copy_product", res.Status, res.Message)
	}
}

func TestCopyProductFollowsLinks(t *testing.T) {
	env := newTestEnv(t, jobs.Local)
	os.MkdirAll(filepath.Join(env.dir, "real"), 0o755)
	os.WriteFile(filepath.Join(env.dir, "real", "f.txt"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(env.dir, "tree"), 0o755)
	os.Symlink("../real", filepath.Join(env.dir, "tree", "linked"))
	if res := runOp(t, env, "copy_product", "tree"); res.Status != jobs.OK {
		t.Fatalf("copy_product: %s %s", res.Status, res.Message)
	}
	if b, err := os.ReadFile(filepath.Join(env.node, "bundle", "tree", "linked", "f.txt")); err != nil || string(b) != "x" {
		t.Errorf("the linked directory's file: %q, %v", b, err)
	}
	os.Symlink("..", filepath.Join(env.dir, "real", "loop"))
	if res := runOp(t, env, "copy_product", "real"); res.Status != jobs.Failed || !strings.Contains(res.Message, "leads back into") {
		t.Errorf("a link loop: %s %q, want FAILED", res.Status, res.Message)
	}
}

// TestCopyProductNoSpace: a copy larger than the node's free space is
// refused before anything is copied.
func TestCopyProductNoSpace(t *testing.T) {
	env := newTestEnv(t, jobs.Local)
	env.free = 10
	os.MkdirAll(filepath.Join(env.dir, "dist"), 0o755)
	os.WriteFile(filepath.Join(env.dir, "dist", "app.whl"), []byte(strings.Repeat("w", 100)), 0o644)
	res := runOp(t, env, "copy_product", "dist")
	if res.Status != jobs.Failed || !strings.Contains(res.Message, "no space for 100 byte(s) on node1") {
		t.Errorf("got %s %q, want FAILED saying there is no space", res.Status, res.Message)
	}
	if _, err := os.Stat(filepath.Join(env.node, "bundle", "dist")); err == nil {
		t.Error("something was copied")
	}
}

// storeEnv is a testEnv whose node has a store of bundle files.
type storeEnv struct {
	*testEnv
	store *fakeStore
}

func (e *storeEnv) Store(context.Context) (NodeStore, error) { return e.store, nil }

// fakeStore answers a place with its states, by path, and writes what is
// sent into the test's node directory.
type fakeStore struct {
	node   string // the test's node directory, where the bundle is
	states map[string]int8
	free   int64
	err    error // of Place
	sent   error // of Sent
	asked  []channel.StoreFile
	dirs   []int // the directories of each place request
	chunks int
}

func (s *fakeStore) Place(_ context.Context, dirs []channel.StoreDir, files []channel.StoreFile) ([]int8, int64, error) {
	for _, d := range dirs {
		os.MkdirAll(filepath.Join(s.node, "bundle", d.Path), 0o700)
	}
	s.dirs = append(s.dirs, len(dirs))
	s.asked = append(s.asked, files...)
	out := make([]int8, len(files))
	for i, f := range files {
		out[i] = s.states[f.Path]
	}
	return out, s.free, s.err
}

func (s *fakeStore) Send(f channel.StoreFile, off int64, data []byte) error {
	s.chunks++
	p := filepath.Join(s.node, "bundle", f.Path)
	flag := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if off == 0 {
		flag |= os.O_TRUNC
	}
	out, err := os.OpenFile(p, flag, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	_, err = out.Write(data)
	return err
}

func (s *fakeStore) Sent(context.Context) error           { return s.sent }
func (s *fakeStore) Progress(string, int64) jobs.Progress { return noProgress{} }

// TestCopyFromStore: a copy asks the node's store first, with each file's
// sha256, and sends only what it lacks, in chunks through the store; a
// store that lost the bundle ends the job ERROR, one that answers wrongly
// or reports a failed write FAILED; no room for what is left to send is
// refused before anything is sent.
func TestCopyFromStore(t *testing.T) {
	env := &storeEnv{testEnv: newTestEnv(t, jobs.Local)}
	env.store = &fakeStore{node: env.node, free: -1, states: map[string]int8{
		"dist/a.whl": channel.StoreLinked, "dist/b.whl": channel.StoreHad,
	}}
	os.MkdirAll(filepath.Join(env.dir, "dist"), 0o755)
	for name, data := range map[string]string{"a.whl": "alpha", "b.whl": "beta", "c.whl": "gamma", "d.whl": ""} {
		os.WriteFile(filepath.Join(env.dir, "dist", name), []byte(data), 0o644)
	}
	big := strings.Repeat("x", channel.MaxStoreChunk+10)
	os.WriteFile(filepath.Join(env.dir, "dist", "e.whl"), []byte(big), 0o644)
	res := runOp(t, env, "copy_product", "dist")
	want := fmt.Sprintf("3 file(s), %d byte(s) sent; 1 from the node's store; 1 already there", 5+len(big))
	if res.Status != jobs.OK || res.Message != want || res.Change != jobs.Changed {
		t.Fatalf("copy_product: %s %q %v, want %q", res.Status, res.Message, res.Change, want)
	}
	if len(env.store.asked) != 5 || env.store.asked[0].SHA256 != "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8" {
		t.Errorf("the store was asked %+v", env.store.asked)
	}
	if _, err := os.Stat(filepath.Join(env.node, "bundle", "dist", "a.whl")); err == nil {
		t.Error("a file the store placed was sent")
	}
	if env.store.chunks != 4 { // c, the empty d, e in two
		t.Errorf("%d chunks sent, want 4", env.store.chunks)
	}
	for name, data := range map[string]string{"c.whl": "gamma", "d.whl": "", "e.whl": big} {
		if b, err := os.ReadFile(filepath.Join(env.node, "bundle", "dist", name)); err != nil || string(b) != data {
			t.Errorf("%s on the node: %d bytes, %v", name, len(b), err)
		}
	}
	for _, tt := range []struct {
		store *fakeStore
		want  jobs.Status
		msg   string
	}{
		{&fakeStore{free: -1, err: fmt.Errorf("%w: removed", jobs.ErrBundleLost)}, jobs.Error, "removed"},
		{&fakeStore{free: -1, err: errors.New("the node's store: disk error")}, jobs.Failed, "disk error"},
		{&fakeStore{free: -1, sent: errors.New("write dist/c.whl: its content arrived changed")}, jobs.Failed, "arrived changed"},
		{&fakeStore{free: 3}, jobs.Failed, "no space for"},
	} {
		tt.store.node = env.node
		env.store = tt.store
		os.RemoveAll(filepath.Join(env.node, "bundle", "dist"))
		if res := runOp(t, env, "copy_product", "dist"); res.Status != tt.want || !strings.Contains(res.Message, tt.msg) {
			t.Errorf("%s: %s %q, want %s", tt.msg, res.Status, res.Message, tt.want)
		}
		if tt.store.sent == nil && tt.store.chunks > 0 {
			t.Errorf("%s: %d chunks sent", tt.msg, tt.store.chunks)
		}
	}
}

// TestSumsRemember: a file changed in place, its size and mtime kept, is
// hashed again; one changed less than a second ago is never taken from
// memory, since its ctime may not tell a change in the same clock tick;
// Prefetch hashes what a copy would send.
func TestSumsRemember(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "dist", "a.whl")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("alpha"), 0o644)
	a, err := testOps.Prepare(jobs.Job{Host: jobs.Local, Op: "copy_product", Args: []string{"dist"}})
	if err != nil {
		t.Fatal(err)
	}
	Prefetch(a, dir)
	sum, _, err := sha256Of(p)
	if err != nil || sum != "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8" {
		t.Fatalf("the sum: %s, %v", sum, err)
	}
	sums.mu.Lock()
	racy := sums.m[p] != nil && sums.m[p].racy
	sums.mu.Unlock()
	if !racy {
		t.Error("a file written just now is remembered: a change in the same clock tick would go unseen")
	}
	fi, _ := os.Stat(p)
	f, _ := os.OpenFile(p, os.O_WRONLY, 0)
	f.WriteAt([]byte("ALPHA"), 0)
	f.Close()
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	if sum, _, _ := sha256Of(p); sum == "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8" {
		t.Error("a file changed in place kept its old sum")
	}
}

// TestCopyManyDirs: a tree of more directories than a request may name is
// made in several requests, all before the files are asked for.
func TestCopyManyDirs(t *testing.T) {
	env := &storeEnv{testEnv: newTestEnv(t, jobs.Local)}
	env.store = &fakeStore{node: env.node, free: -1}
	for i := range channel.MaxStoreFiles + 10 {
		os.MkdirAll(filepath.Join(env.dir, "tree", fmt.Sprintf("d%04d", i)), 0o755)
	}
	os.WriteFile(filepath.Join(env.dir, "tree", "d0000", "f"), []byte("x"), 0o644)
	if res := runOp(t, env, "copy_product", "tree"); res.Status != jobs.OK {
		t.Fatalf("copy_product: %s %q", res.Status, res.Message)
	}
	// The tree itself, then its directories: 2,059 in all.
	if d := env.store.dirs; len(d) != 2 || d[0] != channel.MaxStoreFiles || d[1] != 11 {
		t.Errorf("directories per request: %v, want [%d 11]", d, channel.MaxStoreFiles)
	}
}
