package localops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
)

// previewEnv is a PreviewEnv over local directories: dir for the deploy
// file's, and HOME for the node's files.
type previewEnv struct{ dir string }

func (e previewEnv) Host() jobs.Host           { return jobs.Local }
func (e previewEnv) Node() string              { return "n1" }
func (e previewEnv) Params() map[string]string { return map[string]string{"port": "8080"} }
func (e previewEnv) Dir() string               { return e.dir }
func (e previewEnv) ReadRemote(context.Context, string, int64) ([]byte, fs.FileMode, error) {
	panic("a local template reads no node file")
}

// TestTemplatePreview: what a local template would do to DEST, which the
// preview reads as a write replaces it: a symlink there is replaced, not
// followed, even to a file that holds the text.
func TestTemplatePreview(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	os.WriteFile(filepath.Join(dir, "app.tmpl"), []byte("port = {{.port}}\n"), 0o644)
	os.WriteFile(filepath.Join(home, "same.conf"), []byte("port = 8080\n"), 0o644)
	os.WriteFile(filepath.Join(home, "old.conf"), []byte("port = 80\n"), 0o644)
	os.Symlink("same.conf", filepath.Join(home, "link.conf"))
	for _, tt := range []struct {
		dest, wantWhat, wantChange, wantDiff string
	}{
		{"same.conf", "already holds it", jobs.Unchanged, ""},
		{"old.conf", "would change", jobs.Changed, "-port = 80\n+port = 8080\n"},
		{"new.conf", "would create", jobs.Changed, ""},
		{"link.conf", "would replace", jobs.Changed, ""},
	} {
		a := templateAction{src: "app.tmpl", dest: tt.dest, mode: 0o644}
		p := a.Preview(context.Background(), previewEnv{dir: dir})
		if p.Err != nil || !strings.Contains(p.What, tt.wantWhat) || p.Change != tt.wantChange || !strings.Contains(p.Diff, tt.wantDiff) {
			t.Errorf("%s: %+v; want %q, %s, a diff with %q", tt.dest, p, tt.wantWhat, tt.wantChange, tt.wantDiff)
		}
	}
	if fi, err := os.Lstat(filepath.Join(home, "link.conf")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the preview changed the link: %v %v", fi, err)
	}
}

// peekEnv is a previewEnv whose node's store holds the contents in held.
type peekEnv struct {
	previewEnv
	held  map[string]bool // sha256 -> held
	ok    bool
	err   error
	short bool // answers for one file fewer: a node that lies
}

func (e *peekEnv) PeekStore(_ context.Context, files []channel.StoreFile) ([]bool, bool, error) {
	out := make([]bool, len(files))
	for i, f := range files {
		out[i] = e.held[f.SHA256]
	}
	if e.short {
		out = out[1:]
	}
	return out, e.ok, e.err
}

// TestCopyPreviewStore: a copy's preview counts what the node's store
// holds as placed, not sent, where the environment can ask it; where the
// store is off, every file would be sent; an error asking says so.
func TestCopyPreviewStore(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "rel"), 0o755)
	os.WriteFile(filepath.Join(dir, "rel", "a.bin"), []byte("alpha"), 0o644)
	os.WriteFile(filepath.Join(dir, "rel", "b.bin"), []byte("bravo!"), 0o644)
	a := copyAction{globs: []string{"rel"}, to: "."}
	sum := sha256.Sum256([]byte("alpha"))
	held := map[string]bool{hex.EncodeToString(sum[:]): true}
	for _, c := range []struct {
		name  string
		env   jobs.PreviewEnv
		what  string // or, with bytes 0, the preview's error
		bytes int64
	}{
		{"no store to ask", previewEnv{dir: dir}, "would send 2 file(s), 11 bytes, into the bundle: rel/a.bin (5 bytes), rel/b.bin (6 bytes)", 11},
		{"the store holds one", &peekEnv{previewEnv: previewEnv{dir: dir}, held: held, ok: true}, "would send 1 file(s), 6 bytes, into the bundle: rel/b.bin (6 bytes); 1 from the node's store", 6},
		{"store_limit = 0", &peekEnv{previewEnv: previewEnv{dir: dir}, held: held}, "would send 2 file(s), 11 bytes", 11},
		{"the store cannot be asked", &peekEnv{previewEnv: previewEnv{dir: dir}, err: errors.New("agent gone")}, "ask the node's store: agent gone", 0},
		{"the store answers for fewer files", &peekEnv{previewEnv: previewEnv{dir: dir}, held: held, ok: true, short: true}, "answered for 1 file(s), not 2", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := a.Preview(context.Background(), c.env)
			if c.bytes == 0 {
				if p.Err == nil || !strings.Contains(p.Err.Error(), c.what) {
					t.Fatalf("preview %+v, want an error saying %q", p, c.what)
				}
				return
			}
			if p.Err != nil || !strings.HasPrefix(p.What, c.what) || p.Bytes != c.bytes {
				t.Errorf("preview %+v; want %q, %d bytes", p, c.what, c.bytes)
			}
		})
	}
}
