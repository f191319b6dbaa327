package main

import (
	"os"
	"path/filepath"
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
	})
}
