package nodeops

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/jobs"
)

// pythonTimeout bounds a job that runs python: creating a venv with pip
// takes seconds, not minutes.
const pythonTimeout = 3 * time.Minute

// skipOrFail skips the test, or fails it under CI=true, where every
// prerequisite must be installed.
func skipOrFail(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true and %s", why)
	}
	tb.Skip(why)
}

// needPython skips the test unless python3 with its venv module is on PATH.
func needPython(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		skipOrFail(tb, "python3 is not on PATH")
	}
	if out, err := exec.Command("python3", "-c", "import venv, ensurepip").CombinedOutput(); err != nil {
		skipOrFail(tb, "python3 has no venv or ensurepip module: "+string(out))
	}
}

// newVenv creates a venv with pip in a temporary directory and returns its
// path.
func newVenv(tb testing.TB) string {
	tb.Helper()
	needPython(tb)
	dir := filepath.Join(tb.TempDir(), "venv")
	if out, err := exec.Command("python3", "-m", "venv", dir).CombinedOutput(); err != nil {
		tb.Fatalf("python3 -m venv: %v\n%s", err, out)
	}
	return dir
}

// fakeBin writes executable shell scripts into a new directory and puts
// only it, then /usr/bin and /bin, on PATH for the test.
func fakeBin(tb testing.TB, scripts map[string]string) {
	tb.Helper()
	dir := tb.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	path := dir
	if len(scripts) > 0 {
		path += ":/usr/bin:/bin"
	}
	tb.Setenv("PATH", path)
}

func TestCreateVenv(t *testing.T) {
	needPython(t)
	tests := []struct {
		name    string
		args    []string
		path    func(home string) string // where the venv should be
		wantPip bool
	}{
		{"relative to home", []string{"venvs/app"}, func(h string) string { return filepath.Join(h, "venvs/app") }, true},
		{"without pip", []string{"--without-pip", "venvs/bare"}, func(h string) string { return filepath.Join(h, "venvs/bare") }, false},
		{"absolute", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			args, path := tt.args, tt.path
			if path == nil {
				abs := filepath.Join(t.TempDir(), "abs venv")
				args, path = []string{abs}, func(string) string { return abs }
			}
			res := runStep(t, env, context.Background(), pythonTimeout, jobs.Remote, append([]string{"create_venv"}, args...)...)
			want := path(env.Home())
			if res.Status != jobs.OK || res.Message != want {
				t.Fatalf("got %s %q, want OK %q\n%s", res.Status, res.Message, want, env.out.Bytes())
			}
			if _, err := os.Stat(filepath.Join(want, "pyvenv.cfg")); err != nil {
				t.Errorf("no pyvenv.cfg: %v", err)
			}
			_, err := os.Stat(filepath.Join(want, "bin", "pip"))
			if gotPip := err == nil; gotPip != tt.wantPip {
				t.Errorf("bin/pip exists: %v, want %v", gotPip, tt.wantPip)
			}
		})
	}
}

func TestCreateVenvFailures(t *testing.T) {
	tests := []struct {
		name     string
		scripts  map[string]string // fake programs, alone on PATH
		wantCode int
		wantMsg  []string
		wantOut  string
	}{
		{
			name:     "python3 missing",
			wantCode: -1,
			wantMsg:  []string{"python3 is missing on the node", "python3-venv"},
		},
		{
			name: "ensurepip missing",
			scripts: map[string]string{"python3": `echo "The virtual environment was not created successfully because ensurepip is not
available.  On Debian/Ubuntu systems, you need to install the python3-venv package" >&2
exit 1
`},
			wantCode: 1,
			wantMsg:  []string{"exit status 1", "ensurepip is not available", "apt-get install python3-venv"},
			wantOut:  "ensurepip is not",
		},
		{
			name:     "venv fails otherwise",
			scripts:  map[string]string{"python3": "echo no space left on device >&2; exit 2\n"},
			wantCode: 2,
			wantMsg:  []string{"exit status 2"},
			wantOut:  "no space left",
		},
		{
			name:     "venv python missing",
			scripts:  map[string]string{"python3": "exit 0\n"},
			wantCode: -1,
			wantMsg:  []string{"does not run"},
		},
		{
			// A python that runs but is not the venv's: what an mtime
			// check would pass.
			name: "venv python elsewhere",
			scripts: map[string]string{"python3": `for a; do d=$a; done
mkdir -p "$d/bin"
printf '#!/bin/sh\necho /usr\n' > "$d/bin/python"
chmod +x "$d/bin/python"
`},
			wantMsg: []string{`reports prefix "/usr"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			fakeBin(t, tt.scripts)
			res := runStep(t, env, context.Background(), time.Minute, jobs.Remote, "create_venv", "venvs/app")
			if res.Status != jobs.Failed || res.ExitCode != tt.wantCode {
				t.Errorf("got %s code %d (%s), want FAILED code %d", res.Status, res.ExitCode, res.Message, tt.wantCode)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(res.Message, w) {
					t.Errorf("message %q, want it to contain %q", res.Message, w)
				}
			}
			if out := string(env.out.Bytes()); !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q, want it to contain %q", out, tt.wantOut)
			}
		})
	}
}

func TestVenvResolution(t *testing.T) {
	home := t.TempDir()
	venv := filepath.Join(home, "venvs", "app")
	if err := os.MkdirAll(filepath.Join(venv, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(venv, "bin", "python"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		flag    string
		param   string
		want    string
		wantMsg string
	}{
		{"param, relative to home", "", "venvs/app", filepath.Join(venv, "bin", "python"), ""},
		{"flag over param", venv, "elsewhere", filepath.Join(venv, "bin", "python"), ""},
		{"neither", "", "", "", "no venv: set venv = PATH in the deploy file or pass --venv"},
		{"not created", "venvs/other", "", "", "no venv at " + filepath.Join(home, "venvs/other") + " (create_venv first)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.dir = home
			env.params = map[string]string{"venv": tt.param}
			got, res := resolveVenv(env, tt.flag)
			var gotMsg string
			if res != nil {
				gotMsg = res.Message
				if res.Status != jobs.Failed {
					t.Errorf("status %s, want FAILED", res.Status)
				}
			}
			if got != tt.want || gotMsg != tt.wantMsg {
				t.Errorf("got %q, %q; want %q, %q", got, gotMsg, tt.want, tt.wantMsg)
			}
		})
	}
}

func TestCreateVenvPrepareErrors(t *testing.T) {
	tests := []struct {
		name string
		host jobs.Host
		args []string
		want string
	}{
		{"no path", jobs.Remote, nil, "needs exactly one PATH"},
		{"two paths", jobs.Remote, []string{"a", "b"}, "needs exactly one PATH"},
		{"unknown option", jobs.Remote, []string{"--system-site-packages", "a"}, "unknown flag"},
		{"on local", jobs.Local, []string{"a"}, "runs on remote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Prepare(jobs.Job{Host: tt.host, Op: "create_venv", Args: tt.args})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
