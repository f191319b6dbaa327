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

// fakeStore answers a place with its states, by path, and records keeps.
type fakeStore struct {
	node   string // the test's node directory, where the bundle is
	states map[string]int8
	err    error
	asked  []channel.StoreFile
	kept   []channel.StoreFile
}

func (s *fakeStore) Place(_ context.Context, dirs []channel.StoreDir, files []channel.StoreFile) ([]int8, error) {
	for _, d := range dirs {
		os.MkdirAll(filepath.Join(s.node, "bundle", d.Path), 0o700)
	}
	s.asked = append(s.asked, files...)
	out := make([]int8, len(files))
	for i, f := range files {
		out[i] = s.states[f.Path]
	}
	return out, s.err
}

func (s *fakeStore) Keep(files []channel.StoreFile) error {
	s.kept = append(s.kept, files...)
	return nil
}

// TestCopyFromStore: a copy asks the node's store first, with each file's
// sha256, sends only what it lacks, and hands what it sent to the store;
// a store that lost the bundle ends the job ERROR, one that answers
// wrongly FAILED, and neither sends anything.
func TestCopyFromStore(t *testing.T) {
	env := &storeEnv{testEnv: newTestEnv(t, jobs.Local)}
	env.store = &fakeStore{node: env.node, states: map[string]int8{
		"dist/a.whl": channel.StoreLinked, "dist/b.whl": channel.StoreHad,
	}}
	os.MkdirAll(filepath.Join(env.dir, "dist"), 0o755)
	for name, data := range map[string]string{"a.whl": "alpha", "b.whl": "beta", "c.whl": "gamma"} {
		os.WriteFile(filepath.Join(env.dir, "dist", name), []byte(data), 0o644)
	}
	res := runOp(t, env, "copy_product", "dist")
	if res.Status != jobs.OK || res.Message != "1 file(s), 5 byte(s) sent; 1 from the node's store; 1 already there" || res.Change != jobs.Changed {
		t.Fatalf("copy_product: %s %q %v", res.Status, res.Message, res.Change)
	}
	if len(env.store.asked) != 3 || env.store.asked[0].SHA256 != "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8" {
		t.Errorf("the store was asked %+v", env.store.asked)
	}
	if _, err := os.Stat(filepath.Join(env.node, "bundle", "dist", "a.whl")); err == nil {
		t.Error("a file the store placed was sent")
	}
	if len(env.store.kept) != 1 || env.store.kept[0].Path != "dist/c.whl" || env.store.kept[0].Size != 5 {
		t.Errorf("kept %+v, want dist/c.whl", env.store.kept)
	}
	for err, want := range map[error]jobs.Status{
		fmt.Errorf("%w: removed", jobs.ErrBundleLost): jobs.Error,
		errors.New("the node's store: disk error"):    jobs.Failed,
	} {
		env.store = &fakeStore{node: env.node, err: err}
		os.RemoveAll(filepath.Join(env.node, "bundle", "dist"))
		if res := runOp(t, env, "copy_product", "dist"); res.Status != want {
			t.Errorf("a store that says %v: %s %q, want %s", err, res.Status, res.Message, want)
		}
		if _, err := os.Stat(filepath.Join(env.node, "bundle", "dist", "c.whl")); err == nil {
			t.Error("a file was sent after the store failed")
		}
	}
}
