package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
)

// lineOf is the line number of the first line of file that is text.
func lineOf(t *testing.T, file, text string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == text {
			return i + 1
		}
	}
	t.Fatalf("%s has no line %q", file, text)
	return 0
}

// TestTypoInBuiltinKey: sshd.prot, a typo of sshd.port, is refused when
// the file is loaded, at its line, with exit code 2 and a did-you-mean,
// before anything connects to the node; a param named x.KEY, or used only
// by a template, is fine.
func TestTypoInBuiltinKey(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "sshd.prot = 2223\n\n"+touchPlan)
		line := lineOf(t, p.file, "sshd.prot = 2223")
		for _, args := range [][]string{{"deploy", "node1"}, {"config", "node1"}, {"plan", "deploy"}} {
			r := p.conc(args...)
			if r.code != 2 {
				t.Fatalf("conc %s: %s; want exit 2", strings.Join(args, " "), r)
			}
			want := fmt.Sprintf("conc: %s:%d: unknown key sshd.prot in [node node1]: did you mean sshd.port?", p.file, line)
			if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "name it x.sshd.prot") {
				t.Errorf("conc %s: stderr lacks %q and the x. hint:\n%s", strings.Join(args, " "), want, r)
			}
		}
		for _, rel := range []string{".cache/conc", ".cache", p.bundle, "touched.txt"} {
			if exists(p.nodePath(rel)) {
				t.Errorf("~/%s exists on the node: conc connected despite the error", rel)
			}
		}

		// The operator's own params: x.KEY, and one used only in a template.
		tmpl := filepath.Join(p.dir, "app.cfg.tmpl")
		if err := os.WriteFile(tmpl, []byte("port = {{.app_port}}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p.write("x.release = 1.4\napp_port = 8080\n\n" + `[plan deploy]
step = remote open_bundle
step = remote template app.cfg.tmpl app.cfg
step = remote run touch ../touched.txt
step = remote close_bundle
`)
		if r := p.conc("deploy", "node1"); r.code != 0 {
			t.Fatalf("deploy with x.release and a template's app_port: %s", r)
		}
		if b, err := os.ReadFile(p.nodePath("app.cfg")); err != nil || string(b) != "port = 8080\n" {
			t.Errorf("app.cfg = %q, %v; want port = 8080", b, err)
		}
	})
}
