package localops

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/jobs"
)

// tempLeft returns the temporary files template left in dir.
func tempLeft(tb testing.TB, dir string) []string {
	tb.Helper()
	es, _ := os.ReadDir(dir)
	var left []string
	for _, e := range es {
		if strings.Contains(e.Name(), ".conc-") {
			left = append(left, e.Name())
		}
	}
	return left
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		name     string
		host     jobs.Host
		tmpl     string
		dest     string
		args     []string
		wantMode fs.FileMode
		want     string
	}{
		{name: "params", host: jobs.Local, tmpl: `user={{.admin}} ip={{index . "sshd.ip"}}` + "\n",
			dest: "conf/app.conf", wantMode: 0o600, want: "user=deploy ip=192.0.2.10\n"},
		{name: "mode", host: jobs.Local, tmpl: "{{.venv}}", args: []string{"--mode", "0644"},
			dest: "app.conf", wantMode: 0o644, want: "venvs/app"},
		{name: "logic", host: jobs.Local, tmpl: `{{if eq .admin "deploy"}}yes{{else}}no{{end}} {{.venv | printf "%q"}}`,
			dest: "out", wantMode: 0o600, want: `yes "venvs/app"`},
		{name: "remote", host: jobs.Remote, tmpl: "node {{.admin}}", dest: "etc/app.conf", wantMode: 0o600, want: "node deploy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, tt.host)
			os.WriteFile(filepath.Join(env.dir, "app.tmpl"), []byte(tt.tmpl), 0o644)
			res := runOp(t, env, append([]string{"template", "app.tmpl", tt.dest}, tt.args...)...)
			if res.Status != jobs.OK {
				t.Fatalf("got %s %q", res.Status, res.Message)
			}
			root := env.home
			if tt.host == jobs.Remote {
				root = env.node
			}
			abs := filepath.Join(root, tt.dest)
			b, err := os.ReadFile(abs)
			if err != nil || string(b) != tt.want {
				t.Errorf("%s holds %q (%v), want %q", tt.dest, b, err, tt.want)
			}
			if fi, err := os.Stat(abs); err != nil || fi.Mode() != tt.wantMode {
				t.Errorf("%s has mode %v (%v), want %v", tt.dest, fi.Mode(), err, tt.wantMode)
			}
			if left := tempLeft(t, filepath.Dir(abs)); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestTemplateFailures(t *testing.T) {
	tests := []struct {
		name string
		tmpl string
		want []string
	}{
		{"missing key", "a\n{{.admin}} {{.nokey}}\n", []string{"conf/app.tmpl:2", `map has no entry for key "nokey"`}},
		{"missing dotted key", `{{index . "sshd.nope"}}`, []string{"conf/app.tmpl:1", `map has no entry for key "sshd.nope"`}},
		{"parse error", "line one\nline two\n{{.admin}\n", []string{"template: conf/app.tmpl:3:", "bad character"}},
		{"unknown function", "\n{{shell .admin}}", []string{"template: conf/app.tmpl:2:", `function "shell" not defined`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, jobs.Local)
			os.Mkdir(filepath.Join(env.dir, "conf"), 0o755)
			os.WriteFile(filepath.Join(env.dir, "conf/app.tmpl"), []byte(tt.tmpl), 0o644)
			dest := filepath.Join(env.home, "out.conf")
			os.WriteFile(dest, []byte("old"), 0o600)
			res := runOp(t, env, "template", "conf/app.tmpl", "out.conf")
			if res.Status != jobs.Failed {
				t.Errorf("got %s %q, want FAILED", res.Status, res.Message)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.Message, w) {
					t.Errorf("message %q, want it to contain %q", res.Message, w)
				}
			}
			if b, _ := os.ReadFile(dest); string(b) != "old" {
				t.Errorf("DEST holds %q, want it untouched", b)
			}
			if left := tempLeft(t, env.home); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}
