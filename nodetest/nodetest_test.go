package nodetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/jobs"
	"github.com/rs/zerolog"
)

// testEnv is a jobs.Env over a temporary home.
type testEnv struct {
	home  string
	procs jobs.Procs
	sudo  []byte
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{home: t.TempDir()}
	t.Cleanup(e.procs.KillAll)
	return e
}

func (e *testEnv) Host() jobs.Host { return jobs.Remote }
func (e *testEnv) Node() string    { return "node1" }
func (e *testEnv) Params() map[string]string {
	return map[string]string{"admin": "deploy", "venv": "venvs/app"}
}
func (e *testEnv) Home() string         { return e.home }
func (e *testEnv) Bundle() string       { return filepath.Join(e.home, ".conc-bundle") }
func (e *testEnv) Dir() string          { return e.home }
func (e *testEnv) Output() io.Writer    { return io.Discard }
func (e *testEnv) SudoPassword() []byte { return e.sudo }
func (e *testEnv) Log() *zerolog.Logger { l := zerolog.Nop(); return &l }
func (e *testEnv) Remote(context.Context) (jobs.RemoteFS, error) {
	return nil, errors.New("none")
}
func (e *testEnv) Exec(ctx context.Context, c jobs.Command) (int, error) {
	return e.procs.Exec(ctx, c)
}

// compile makes a Spec from key = value lines.
func compile(t *testing.T, name string, kv ...string) Spec {
	t.Helper()
	d := Def{Name: name, Pos: "conc.ini:10", Vals: map[string]string{}, KeyPos: map[string]string{}}
	for i := 0; i < len(kv); i += 2 {
		d.Keys = append(d.Keys, kv[i])
		d.Vals[kv[i]] = kv[i+1]
		d.KeyPos[kv[i]] = fmt.Sprintf("conc.ini:%d", 11+i/2)
	}
	s, err := Compile(d)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

// runOne runs one spec and returns its end event.
func runOne(t *testing.T, env *testEnv, s Spec) Event {
	t.Helper()
	var last Event
	Run(context.Background(), env, []Spec{s}, Options{Emit: func(e Event) {
		if e.Action != ActionRun {
			last = e
		}
	}})
	return last
}

func TestChecks(t *testing.T) {
	env := newEnv(t)
	os.WriteFile(filepath.Join(env.home, "app.conf"), []byte("listen = 8080\n"), 0o640)
	os.Chmod(filepath.Join(env.home, "app.conf"), 0o640)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := fmt.Sprint(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			fmt.Fprint(w, "ok\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	me, _ := user.Current()
	py, err := exec.LookPath("python3")
	if err == nil {
		os.MkdirAll(filepath.Join(env.home, "venvs/app/bin"), 0o755)
		os.Symlink(py, filepath.Join(env.home, "venvs/app/bin/python"))
	}
	type checkCase struct {
		name    string
		kv      []string
		want    string // action
		wantMsg string
	}
	tests := []checkCase{
		{"run ok", []string{"run", "echo 35", "expect", "35"}, ActionPass, ""},
		{"run wrong stdout", []string{"run", "echo 34", "expect", "35"}, ActionFail, `stdout is "34", want "35"`},
		{"run regex", []string{"run", "echo version 1.2.3", "expect_regex", `^version \d+\.`}, ActionPass, ""},
		{"run regex trimmed", []string{"run", "echo 35", "expect_regex", `^[0-9]+$`}, ActionPass, ""},
		{"run regex fails", []string{"run", "echo nope", "expect_regex", `^version`}, ActionFail, `stdout "nope" does not match /^version/`},
		{"run exit", []string{"run", "exit 3"}, ActionFail, "exit status 3, want 0"},
		{"run expect_exit", []string{"run", "exit 3", "expect_exit", "3"}, ActionPass, ""},
		{"run timeout", []string{"run", "sleep 30", "timeout", "200ms"}, ActionFail, "timed out after 200ms"},
		{"skip", []string{"run", "false", "skip", "not on this kernel"}, ActionSkip, "not on this kernel"},
		{"file ok", []string{"file", "app.conf", "mode", "0640", "owner", me.Username, "contains", "listen"}, ActionPass, ""},
		{"file missing", []string{"file", "nope.conf"}, ActionFail, "no such file"},
		{"file mode", []string{"file", "app.conf", "mode", "0600"}, ActionFail, "has mode 0640, want 0600"},
		{"file owner", []string{"file", "app.conf", "owner", "nobody-at-all"}, ActionFail, "want nobody-at-all"},
		{"file contains", []string{"file", "app.conf", "contains", "9090"}, ActionFail, `does not contain "9090"`},
		{"port listens", []string{"port", port}, ActionPass, ""},
		{"port closed", []string{"port", "127.0.0.1:" + closedPort}, ActionFail, "nothing listens on 127.0.0.1:" + closedPort},
		{"port by name", []string{"port", "example.com:80"}, ActionFail, "IP address or localhost"},
		{"http ok", []string{"http", srv.URL + "/health", "expect", "ok"}, ActionPass, ""},
		{"http status", []string{"http", srv.URL + "/missing"}, ActionFail, "status 404, want 200"},
		{"http expect_status", []string{"http", srv.URL + "/missing", "expect_status", "404"}, ActionPass, ""},
		{"http body", []string{"http", srv.URL + "/health", "expect_regex", "^fine"}, ActionFail, `the body "ok" does not match /^fine/`},
	}
	if py != "" {
		tests = append(tests,
			checkCase{"python ok", []string{"python", "venvs/app json"}, ActionPass, ""},
			checkCase{"python missing module", []string{"python", "venvs/app no_such_module"}, ActionFail, "no_such_module does not import in venvs/app"},
			checkCase{"python no venv", []string{"python", "venvs/none json"}, ActionFail, "no venv at"},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := runOne(t, env, compile(t, tt.name, tt.kv...))
			if e.Action != tt.want || !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("got %s %q, want %s with %q", e.Action, e.Message, tt.want, tt.wantMsg)
			}
			if e.Test != tt.name {
				t.Errorf("event names %q, want %q", e.Test, tt.name)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		kv      []string
		wantPos string
		wantMsg string
	}{
		{"no check", []string{"expect", "x"}, "conc.ini:10", "checks nothing"},
		{"two checks", []string{"run", "true", "port", "80"}, "conc.ini:12", "makes two checks"},
		{"unknown key", []string{"run", "true", "expct", "x"}, "conc.ini:12", `unknown key "expct"`},
		{"key of another check", []string{"port", "80", "expect", "x"}, "conc.ini:12", `unknown key "expect" for a port check`},
		{"bad regex", []string{"run", "true", "expect_regex", "a(b"}, "conc.ini:12", "expect_regex"},
		{"bad exit", []string{"run", "true", "expect_exit", "-1"}, "conc.ini:12", "want an exit status"},
		{"bad timeout", []string{"run", "true", "timeout", "soon"}, "conc.ini:12", "timeout"},
		{"bad sudo", []string{"run", "true", "sudo", "maybe"}, "conc.ini:12", "yes or no"},
		{"bad port", []string{"port", "http"}, "conc.ini:11", "[HOST:]PORT"},
		{"bad python", []string{"python", "venvs/app"}, "conc.ini:11", "VENV MODULE"},
		{"https", []string{"http", "https://x/"}, "conc.ini:11", "http://"},
		{"bad mode", []string{"file", "x", "mode", "rw"}, "conc.ini:12", "octal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Def{Name: "t", Pos: "conc.ini:10", Vals: map[string]string{}, KeyPos: map[string]string{}}
			for i := 0; i < len(tt.kv); i += 2 {
				d.Keys = append(d.Keys, tt.kv[i])
				d.Vals[tt.kv[i]] = tt.kv[i+1]
				d.KeyPos[tt.kv[i]] = fmt.Sprintf("conc.ini:%d", 11+i/2)
			}
			_, err := Compile(d)
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantPos+": [test t]") || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Compile = %v, want %s: ... %s", err, tt.wantPos, tt.wantMsg)
			}
		})
	}
}

// TestGoAPI runs registered Go tests: pass, failure with Errorf, Fatalf,
// skip, subtests, commands on the node, and a filter.
func TestGoAPI(t *testing.T) {
	Register("go/pass", func(t *T) {
		out := t.Shell("echo $((6 * 7))")
		if strings.TrimSpace(out.Stdout) != "42" || out.Exit != 0 {
			t.Errorf("got %q exit %d", out.Stdout, out.Exit)
		}
		if t.Param("venv") != "venvs/app" {
			t.Errorf("param venv = %q", t.Param("venv"))
		}
	})
	Register("go/fail", func(t *T) {
		t.Log("looking at the thing")
		t.Errorf("the thing is %d, want %d", 1, 2)
		t.Errorf("and another")
	})
	Register("go/fatal", func(t *T) {
		t.Fatalf("cannot go on")
		panic("Fatalf must end the test")
	})
	Register("go/skip", func(t *T) { t.Skip("not here") })
	Register("go/sub", func(t *T) {
		t.Run("a", func(t *T) {})
		t.Run("b", func(t *T) { t.Error("b broke") })
	})
	Register("go/panic", func(t *T) { panic("boom") })
	var events []Event
	sum := Run(context.Background(), newEnv(t), nil, Options{Filter: mustRE(t, "^go/"), Emit: func(e Event) {
		if e.Action != ActionRun {
			events = append(events, e)
		}
	}})
	got := map[string]Event{}
	for _, e := range events {
		got[e.Test] = e
	}
	want := map[string]string{
		"go/pass": ActionPass, "go/fail": ActionFail, "go/fatal": ActionFail, "go/skip": ActionSkip,
		"go/sub/a": ActionPass, "go/sub/b": ActionFail, "go/sub": ActionFail, "go/panic": ActionFail,
	}
	for name, action := range want {
		if got[name].Action != action {
			t.Errorf("%s: %s (%q), want %s", name, got[name].Action, got[name].Message, action)
		}
	}
	if m := got["go/fail"].Message; m != "the thing is 1, want 2\nand another" {
		t.Errorf("go/fail message %q", m)
	}
	if o := got["go/fail"].Output; !strings.Contains(o, "looking at the thing") {
		t.Errorf("go/fail output %q lacks its log", o)
	}
	if !strings.Contains(got["go/panic"].Message, "panic: boom") {
		t.Errorf("go/panic message %q", got["go/panic"].Message)
	}
	if sum.Passed != 1 || sum.Failed != 4 || sum.Skipped != 1 {
		t.Errorf("summary %s, want 1 passed, 4 failed, 1 skipped (subtests are not counted)", sum)
	}
}

func TestFormatEvent(t *testing.T) {
	got := FormatEvent("node1", Event{Action: ActionFail, Test: "port", Duration: 1500 * time.Millisecond, Message: "nothing listens\non 80"})
	want := "--- FAIL: node1/port (1.50s)\n    nothing listens\n    on 80\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := FormatEvent("", Event{Action: ActionRun, Test: "x"}); got != "=== RUN   x\n" {
		t.Errorf("run line %q", got)
	}
}
