package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
)

// TestTemplateBothHosts renders a template of the application with the
// node's params, on the node (written over SFTP by conc) and locally.
func TestTemplateBothHosts(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		p.extra = "listen = 8080\n"
		p.write(`[plan deploy]
step = remote open_bundle
step = remote template app.conf.tmpl etc/app.conf --mode 0640
step = local template app.conf.tmpl ${local_bundle}-rendered.conf
step = remote close_bundle
`)
		os.WriteFile(filepath.Join(p.dir, "app.conf.tmpl"), []byte(`listen {{.listen}} on {{index . "sshd.ip"}} for {{.name}}`+"\n"), 0o644)
		r := p.conc("deploy", "node1")
		if r.code != 0 {
			t.Fatalf("deploy: %s", r)
		}
		want := "listen 8080 on 127.0.0.1 for node1\n"
		if got := readFile(t, p.nodePath("etc/app.conf")); got != want {
			t.Errorf("on the node: %q, want %q", got, want)
		}
		if fi, err := os.Stat(p.nodePath("etc/app.conf")); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("mode on the node: %v %v", fi, err)
		}
		if got := readFile(t, p.local+"-rendered.conf"); got != want {
			t.Errorf("locally: %q", got)
		}
		// Written twice: the second run finds both files as it would make
		// them, says unchanged, and journals it; then a changed param
		// changes them again.
		if n := strings.Count(r.stdout, " changed "); n != 2 {
			t.Errorf("the first run: %d changed lines, want 2:\n%s", n, r.stdout)
		}
		r = p.conc("deploy", "node1", "--json")
		if r.code != 0 || strings.Count(r.stdout, `"change":"unchanged"`) != 2 || strings.Contains(r.stdout, `"change":"changed"`) {
			t.Errorf("the second run does not say unchanged twice: %s", r)
		}
		p.extra = "listen = 9090\n"
		p.write(readFile(t, p.file)[strings.Index(readFile(t, p.file), "[plan deploy]"):])
		if r := p.conc("deploy", "node1"); r.code != 0 || strings.Count(r.stdout, " changed ") != 2 || !strings.Contains(readFile(t, p.nodePath("etc/app.conf")), "9090") {
			t.Errorf("a changed param: %s", r)
		}
	})
}
