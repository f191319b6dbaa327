package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
)

// TestWritesStayInside makes an earlier remote job leave symlinks that
// lead out of the bundle, and out of the home directory, then has put,
// copy_product and template write through them: each is refused, naming
// the symlink, and nothing is written outside.
func TestWritesStayInside(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		outside := t.TempDir()
		cases := []struct {
			name, step string
		}{
			{"put --to", "local put payload.txt --to out"},
			{"copy_product --to", "local copy_product dist --to out"},
			{"copy_product into a linked directory", "local copy_product dist"},
			{"template through a link in the home", "remote template app.cfg.tmpl cfglink/app.cfg"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\n"+
					"step = remote run \"ln -sfn "+outside+" out; ln -sfn "+outside+" dist; ln -sfn "+outside+" $HOME/cfglink\"\n"+
					"step = "+tc.step+"\nstep = remote close_bundle\n")
				writeLocal(t, filepath.Join(p.dir, "payload.txt"), "payload\n", 0o644)
				os.Mkdir(filepath.Join(p.dir, "dist"), 0o755)
				writeLocal(t, filepath.Join(p.dir, "dist", "app.whl"), "wheel\n", 0o644)
				writeLocal(t, filepath.Join(p.dir, "app.cfg.tmpl"), "node = {{.name}}\n", 0o644)
				r := p.conc("deploy", "node1")
				if r.code != 1 || !strings.Contains(r.stdout, "FAILED") || !strings.Contains(r.stdout, "through a symlink") {
					t.Errorf("a write through a symlink out: %s\nwant FAILED, naming the symlink", r)
				}
				if left, _ := os.ReadDir(outside); len(left) != 0 {
					t.Errorf("written outside: %v", left)
				}
				p.conc("unlock", "node1", "--yes")
			})
		}
	})
}
