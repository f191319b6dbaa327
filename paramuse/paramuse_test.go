package paramuse

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"fmt"
	"github.com/concdeploy/conc/config"
)

// TestUnusedKeys: a param that conc does not read and nothing uses is an
// error at load time, at its line, with a "did you mean" for a near miss
// of a built-in key and the way to keep a param of one's own.
func TestUnusedKeys(t *testing.T) {
	const n1 = "[node n1]\nsshd.ip = 192.0.2.1\n"
	tests := []struct {
		name, content string
		wantLine      int
		wantMsg       []string // all in the message; none for no error
	}{
		{"port typo", n1 + "sshd.prot = 2223\n", 3, []string{"unknown key sshd.prot in [node n1]", "did you mean sshd.port?", "name it x.sshd.prot"}},
		{"identity typo", "[defaults]\nidentiy = ~/.ssh/id\n" + n1, 2, []string{"identiy in [defaults]", "did you mean identity?"}},
		{"bundle typo", "[defaults]\nbundel = .oops\n" + n1, 2, []string{"did you mean bundle?"}},
		{"separator", n1 + "sshd_port = 2223\n", 3, []string{"did you mean sshd.port?"}},
		{"case", n1 + "Known-Hosts = kh\n", 3, []string{"did you mean known_hosts?"}},
		{"two edits", n1 + "local_bundel_ = x\n", 3, []string{"did you mean local_bundle?"}},
		{"ssh config", n1 + "sshconfig = none\n", 3, []string{"did you mean ssh_config?"}},
		{"no near miss", n1 + "relase = 1.4\n", 3, []string{"unknown key relase in [node n1]: conc reads no param relase, and no ${relase}, template or [test NAME] uses it; if it is your own param, name it x.relase"}},
		{"short key, two edits", n1 + "jp = x\n", 3, []string{"unknown key jp"}},
		{"in a group", n1 + "[group g]\nnodes = n1\nadmn = x\n", 5, []string{"admn in [group g]", "did you mean admin?"}},
		{"batch outside a group", "[defaults]\nbatch = 2\n" + n1, 2, []string{"batch in [defaults] is a setting of a group; move it to a [group NAME] section"}},
		{"several", n1 + "a1 = x\n[defaults]\na2 = y\n", 3, []string{"unknown key a1", "unused too: a2 (", "conc.ini:5)"}},
		{"own prefix", n1 + "x.release = 1.4\n", 0, nil},
		{"built-in keys", "[defaults]\nvenv = v\ntimeout = 1m\nop_key = k\nssh_config = none\njump = none\nlocal_bundle = lb\nname = x\n" + n1, 0, nil},
		{"group settings", n1 + "[group g]\nnodes = n1\nbatch = 1\nmax_fail = 0\n", 0, nil},
		{"used by a param", "[defaults]\nrelease = 1.4\ndir = app-${release}\n" + n1 + "[plan p]\nstep = local run echo ${dir}\n", 0, nil},
		{"used by a param only", "[defaults]\nrelease = 1.4\n" + n1 + "admin = u${release}\n", 0, nil},
		{"used by a step", n1 + "msg = hi\n[plan p]\nstep = local run echo ${msg}\n", 0, nil},
		{"used by a test", n1 + "port = 80\n[test t]\nport = ${port}\n", 0, nil},
		{"literal ${ is no use", n1 + "msg = hi\n[plan p]\nstep = local run echo $${msg}\n", 3, []string{"unknown key msg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, "conc.ini", tt.content)
			_, err := load(path)
			if tt.wantMsg == nil {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			for _, w := range tt.wantMsg {
				wantFileError(t, err, path, tt.wantLine, w)
			}
		})
	}
}

// TestUnusedLayered: the first unused key is the first in the order of
// the files, and a later file's value is where the key was set.
func TestUnusedLayered(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.ini")
	site := filepath.Join(dir, "site.ini")
	must(t, os.WriteFile(base, []byte("[node n1]\nsshd.ip = 192.0.2.1\n\n\n\nrelase = 1\n"), 0o600))
	must(t, os.WriteFile(site, []byte("[node n1]\nsshd.prot = 2\n"), 0o600))
	_, err := load(base, site)
	wantFileError(t, err, base, 6, "unknown key relase")
	wantFileError(t, err, base, 6, "unused too: sshd.prot ("+site+":2)")
}

// TestUnusedTemplates: a param used only inside a template file that a
// template step renders is used.
func TestUnusedTemplates(t *testing.T) {
	tests := []struct {
		name     string
		template string // "" for none written
		src      string // the step's SRC
		wantErr  string // "" for none
	}{
		{"field", "port = {{.app_port}}\n", "app.tmpl", ""},
		{"index", `port = {{index . "app_port"}}` + "\n", "app.tmpl", ""},
		{"trimmed", "{{- .app_port -}}", "app.tmpl", ""},
		{"root field", "{{range $i := .list}}{{$.app_port}}{{end}}", "app.tmpl", ""},
		{"backquoted", "{{index . `app_port`}}", "app.tmpl", ""},
		{"not in the template", "port = {{.other}} app_port\n", "app.tmpl", "unknown key app_port"},
		{"in a comment only", "{{/* app_port */}}", "app.tmpl", ""},
		{"range over all", "{{range $k, $v := .}}{{$k}}{{end}}", "app.tmpl", ""},
		{"the whole dot", "{{printf \"%v\" .}}", "app.tmpl", ""},
		{"root", "{{$}}", "app.tmpl", ""},
		{"missing file", "", "app.tmpl", ""},
		{"src by param", "{{.app_port}}", "${tdir}/app.tmpl", ""},
		{"src by param, other use", "{{.x}}", "${tdir}/app.tmpl", "unknown key app_port"},
		{"quoted src", "{{.app_port}}", `"app.tmpl"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.template != "" {
				must(t, os.MkdirAll(filepath.Join(dir, "t"), 0o700))
				must(t, os.WriteFile(filepath.Join(dir, "t", "app.tmpl"), []byte(tt.template), 0o600))
			}
			path := filepath.Join(dir, "conc.ini")
			content := "[defaults]\ntdir = t\napp_port = 8080\n[node n1]\nsshd.ip = 192.0.2.1\n[plan p]\nstep = remote open_bundle\n" +
				"step = remote template --mode 0640 " + strings.Replace(tt.src, "app.tmpl", "t/app.tmpl", 1) + " ${tdir}.cfg\nstep = remote close_bundle\n"
			if strings.Contains(tt.src, "${tdir}") {
				content = strings.Replace(content, "t/app.tmpl", "app.tmpl", 1)
			}
			must(t, os.WriteFile(path, []byte(content), 0o600))
			_, err := load(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			wantFileError(t, err, path, 3, tt.wantErr)
		})
	}
}

// TestUnusedTemplateFIFO: a FIFO named as a template does not stop the
// load; it counts as using every key.
func TestUnusedTemplateFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := mkfifo(filepath.Join(dir, "app.tmpl")); err != nil {
		t.Skip(err)
	}
	path := filepath.Join(dir, "conc.ini")
	must(t, os.WriteFile(path, []byte("[node n1]\nsshd.ip = h\nmine = 1\n[plan p]\nstep = local template app.tmpl out\n"), 0o600))
	if _, err := load(path); err != nil {
		t.Fatal(err)
	}
}

func TestSuggest(t *testing.T) {
	for key, want := range map[string]string{
		"sshd.prot": "sshd.port", "identiy": "identity", "bundel": "bundle",
		"sshd_port": "sshd.port", "SSHD.IP": "sshd.ip", "knownhosts": "known_hosts",
		"opkey": "op_key", "jupm": "jump", "venvs": "venv", "timeuot": "timeout",
		"release": "", "app_port": "", "db": "", "x": "",
	} {
		if got := suggest(key); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestUnusedIsConfigError(t *testing.T) {
	_, err := load(write(t, "conc.ini", "[node n1]\nsshd.ip = h\nsshd.prot = 1\n"))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %T %v, want a *config.Error", err, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mkfifo(path string) error { return exec.Command("mkfifo", path).Run() }

// load loads the deploy files and checks their params, as conc does.
func load(paths ...string) (*config.File, error) {
	f, err := config.Load(paths...)
	if err != nil {
		return nil, err
	}
	return f, Check(f)
}

// write puts a deploy file in a temporary directory and returns its path.
func write(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// wantFileError checks err is a deploy-file error at path:line holding
// want.
func wantFileError(tb testing.TB, err error, path string, line int, want string) {
	tb.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		tb.Fatalf("got %v, want a config error", err)
	}
	if ce.Pos.File != path || ce.Pos.Line != line {
		tb.Errorf("error at %s, want %s:%d (%v)", ce.Pos, path, line, err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, fmt.Sprintf("%s:%d: ", path, line)) || !strings.Contains(msg, want) {
		tb.Errorf("error %q, want it to start with the file and line and contain %q", clip(msg), want)
	}
}
