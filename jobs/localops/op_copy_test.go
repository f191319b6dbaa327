package localops

import (
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
