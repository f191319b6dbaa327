package localops

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
