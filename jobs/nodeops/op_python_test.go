package nodeops

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/jobs"
)

// writeWheel builds a pure-Python wheel by hand in dir: one module, name,
// whose hello() returns "hello from NAME". pip installs it without
// setuptools. It returns the wheel's file name.
func writeWheel(tb testing.TB, dir, name, version string) string {
	tb.Helper()
	whl := fmt.Sprintf("%s-%s-py3-none-any.whl", name, version)
	info := fmt.Sprintf("%s-%s.dist-info", name, version)
	files := []struct{ name, body string }{
		{name + ".py", fmt.Sprintf("def hello():\n    return %q\n", "hello from "+name)},
		{info + "/METADATA", fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", name, version)},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: conc-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	f, err := os.Create(filepath.Join(dir, whl))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	var record strings.Builder
	for _, file := range files {
		w, err := zw.Create(file.name)
		if err != nil {
			tb.Fatal(err)
		}
		w.Write([]byte(file.body))
		sum := sha256.Sum256([]byte(file.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", file.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(file.body))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", info)
	w, err := zw.Create(info + "/RECORD")
	if err != nil {
		tb.Fatal(err)
	}
	w.Write([]byte(record.String()))
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return whl
}

// writeSource writes a source directory dir/NAME-VERSION with a setup.py
// for one module, name. A non-zero exit makes setup.py exit with it.
func writeSource(tb testing.TB, dir, name, version string, exit int) {
	tb.Helper()
	src := filepath.Join(dir, name+"-"+version)
	setup := fmt.Sprintf("from setuptools import setup\nsetup(name=%q, version=%q, py_modules=[%q])\n", name, version, name)
	if exit != 0 {
		setup = fmt.Sprintf("import sys\nprint('setup.py: broken')\nsys.exit(%d)\n", exit)
	}
	module := fmt.Sprintf("def hello():\n    return %q\n", "hello from "+name)
	for path, body := range map[string]string{"setup.py": setup, name + ".py": module} {
		if err := os.MkdirAll(src, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, path), []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// importHello imports module with the venv's python and returns what its
// hello() says.
func importHello(tb testing.TB, venv, module string) string {
	tb.Helper()
	out, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import "+module+"; print("+module+".hello())").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("import %s: %v: %s", module, err, out)
	}
	return strings.TrimSpace(string(out))
}

// pythonCase is a run of a python op against a real venv.
type pythonCase struct {
	name       string
	args       []string // after the op's name; VENV is replaced with the venv
	noParam    bool     // run without the venv param
	wantStatus jobs.Status
	wantCode   int
	wantMsg    string
	wantOut    string
	wantImport string // a module the venv can then import
	wantChange string // changed or unchanged, when the op says
}

func runPythonCases(t *testing.T, op, venv string, setup func(tb testing.TB, bundle string), tests []pythonCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			setup(t, env.dir)
			env.params = map[string]string{"venv": venv}
			if tt.noParam {
				env.params = map[string]string{}
			}
			args := []string{op}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "VENV", venv))
			}
			res := runStep(t, env, context.Background(), pythonTimeout, jobs.Remote, args...)
			out := string(env.out.Bytes())
			if tt.wantChange != "" && res.Change != tt.wantChange {
				t.Errorf("change %q, want %q", res.Change, tt.wantChange)
			}
			if res.Status != tt.wantStatus || res.ExitCode != tt.wantCode || !strings.Contains(res.Message, tt.wantMsg) {
				t.Errorf("got %s code %d %q, want %s code %d %q\n%s", res.Status, res.ExitCode, res.Message, tt.wantStatus, tt.wantCode, tt.wantMsg, out)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q, want it to contain %q", out, tt.wantOut)
			}
			if tt.wantImport != "" {
				if got, want := importHello(t, venv, tt.wantImport), "hello from "+tt.wantImport; got != want {
					t.Errorf("after the install, %s.hello() = %q, want %q", tt.wantImport, got, want)
				}
			}
		})
	}
}

func TestSetupInstall(t *testing.T) {
	venv := newVenv(t)
	if out, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import setuptools").CombinedOutput(); err != nil {
		skipOrFail(t, "the venv has no setuptools: "+string(out))
	}
	setup := func(tb testing.TB, bundle string) {
		writeSource(tb, bundle, "greeting", "1.0", 0)
		writeSource(tb, bundle, "twin", "1.0", 0)
		writeSource(tb, bundle, "twin", "2.0", 0)
		writeSource(tb, bundle, "broken", "1.0", 3)
		writeSource(tb, bundle, "other", "1.0", 0)
		writeArchive(tb, filepath.Join(bundle, "greeting-1.0.tar.gz"), tarFile("x", 0o644, "x"))
		os.MkdirAll(filepath.Join(bundle, "empty-1.0"), 0o755)
	}
	runPythonCases(t, "setup_install", venv, setup, []pythonCase{
		{name: "one directory, the archive ignored", args: []string{"greeting-*"},
			wantStatus: jobs.OK, wantMsg: "installed greeting-1.0 into " + venv, wantImport: "greeting"},
		{name: "--venv", args: []string{"other-*", "--venv", "VENV"}, noParam: true,
			wantStatus: jobs.OK, wantImport: "other"},
		{name: "no match", args: []string{"nothing-*"},
			wantStatus: jobs.Failed, wantMsg: `"nothing-*" matches no directory with a setup.py in `},
		{name: "directory without setup.py", args: []string{"empty-*"},
			wantStatus: jobs.Failed, wantMsg: "directories without one: empty-1.0"},
		{name: "several", args: []string{"twin-*"},
			wantStatus: jobs.Failed, wantMsg: `"twin-*" matches 2 directories with a setup.py in `},
		{name: "setup.py fails", args: []string{"broken-*"},
			wantStatus: jobs.Failed, wantCode: 3, wantMsg: "exit status 3", wantOut: "setup.py: broken"},
		{name: "no venv", args: []string{"greeting-*"}, noParam: true,
			wantStatus: jobs.Failed, wantMsg: "no venv: set venv = PATH in the deploy file or pass --venv"},
		{name: "venv not created", args: []string{"greeting-*", "--venv", "VENV-not-there"},
			wantStatus: jobs.Failed, wantMsg: "no venv at " + venv + "-not-there (create_venv first)"},
	})
}

func TestPipInstall(t *testing.T) {
	venv := newVenv(t)
	setup := func(tb testing.TB, bundle string) {
		for _, name := range []string{"alpha", "beta", "gamma", "delta"} {
			writeWheel(tb, bundle, name, "1.0")
		}
		os.WriteFile(filepath.Join(bundle, "requirements.txt"), []byte("# pinned\ngamma==1.0\n"), 0o644)
		os.WriteFile(filepath.Join(bundle, "url.txt"), []byte("gamma\n--find-links https://example.com/wheels\n"), 0o644)
	}
	runPythonCases(t, "pip_install", venv, setup, []pythonCase{
		{name: "glob over the bundle", args: []string{"alpha-*.whl"},
			wantStatus: jobs.OK, wantMsg: "installed into " + venv, wantImport: "alpha", wantChange: jobs.Changed},
		{name: "the same again", args: []string{"alpha-*.whl"},
			wantStatus: jobs.OK, wantImport: "alpha", wantChange: jobs.Unchanged},
		{name: "name from --find-links", args: []string{"beta", "--venv", "VENV"}, noParam: true,
			wantStatus: jobs.OK, wantImport: "beta"},
		{name: "file name", args: []string{"delta-1.0-py3-none-any.whl"},
			wantStatus: jobs.OK, wantImport: "delta"},
		{name: "--requirements", args: []string{"--requirements", "requirements.txt"},
			wantStatus: jobs.OK, wantImport: "gamma"},
		{name: "glob matches nothing", args: []string{"app-*.whl"},
			wantStatus: jobs.Failed, wantMsg: `"app-*.whl" matches no file in `},
		{name: "not in the bundle", args: []string{"notinbundle"},
			wantStatus: jobs.Failed, wantCode: 1, wantMsg: "exit status 1", wantOut: "No matching distribution found for notinbundle"},
		{name: "requirements name a URL", args: []string{"--requirements", "url.txt"},
			wantStatus: jobs.Failed, wantMsg: "url.txt:2 names a URL"},
		{name: "requirements missing", args: []string{"--requirements", "nope.txt"},
			wantStatus: jobs.Failed, wantMsg: "nope.txt: no such file"},
		{name: "no venv", args: []string{"alpha"}, noParam: true,
			wantStatus: jobs.Failed, wantMsg: "no venv: set venv = PATH in the deploy file or pass --venv"},
	})
}

// TestPipInstallNoIndex points pip's index at a listener that never
// answers: a pip that asked it would hang, and the listener would hold the
// connection.
func TestPipInstallNoIndex(t *testing.T) {
	venv := newVenv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	index := "http://" + ln.Addr().String() + "/simple/"
	t.Setenv("PIP_INDEX_URL", index)
	t.Setenv("PIP_NO_INDEX", "0")
	env := newTestEnv(t)
	env.params = map[string]string{"venv": venv}
	res := runStep(t, env, context.Background(), time.Minute, jobs.Remote, "pip_install", "notinbundle")
	if res.Status != jobs.Failed || res.ExitCode != 1 {
		t.Errorf("got %s code %d %q, want FAILED code 1", res.Status, res.ExitCode, res.Message)
	}
	if out := string(env.out.Bytes()); !strings.Contains(out, "No matching distribution found") || strings.Contains(out, ln.Addr().String()) {
		t.Errorf("output %q, want pip's no matching distribution and no mention of %s", out, index)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now())
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Errorf("pip connected to the index at %s", index)
	}
}

// recordEnv records the commands it is asked to run and runs none.
type recordEnv struct {
	*testEnv
	cmds []jobs.Command
}

func (e *recordEnv) Exec(_ context.Context, c jobs.Command) (int, error) {
	e.cmds = append(e.cmds, c)
	return 0, nil
}

func TestPipInstallArgv(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // after python -m pip install --no-index --find-links BUNDLE; B/ is the bundle
	}{
		{"glob", []string{"app-*.whl"}, []string{"B/app-1.0-py3-none-any.whl", "B/app-2.0-py3-none-any.whl"}},
		{"names pass through", []string{"flask>=2", "app[web]", "lib"}, []string{"flask>=2", "app[web]", "lib"}},
		{"name of a directory passes through", []string{"vendor"}, []string{"vendor"}},
		{"requirements", []string{"--requirements", "req/prod.txt", "lib"}, []string{"-r", "B/req/prod.txt", "lib"}},
		{"no build isolation", []string{"--no-build-isolation", "lib"}, []string{"--no-build-isolation", "lib"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &recordEnv{testEnv: newTestEnv(t)}
			b := env.dir
			py := filepath.Join(b, "venv", "bin", "python")
			for _, f := range []string{py, "app-1.0-py3-none-any.whl", "app-2.0-py3-none-any.whl", "req/prod.txt", "vendor/x"} {
				f = filepath.Join(b, strings.TrimPrefix(f, b))
				os.MkdirAll(filepath.Dir(f), 0o755)
				if err := os.WriteFile(f, []byte("-i https://pypi.org/simple\nlib\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			env.params = map[string]string{"venv": "venv"}
			res := runStep(t, env, context.Background(), 0, jobs.Remote, append([]string{"pip_install"}, tt.args...)...)
			if res.Status != jobs.OK || len(env.cmds) != 1 {
				t.Fatalf("got %s %q with %d commands, want OK and one", res.Status, res.Message, len(env.cmds))
			}
			c := env.cmds[0]
			want := []string{py, "-m", "pip", "install", "--no-index", "--find-links", b}
			for _, w := range tt.want {
				want = append(want, strings.Replace(w, "B/", b+"/", 1))
			}
			if !slices.Equal(c.Argv, want) {
				t.Errorf("argv\n%q\nwant\n%q", c.Argv, want)
			}
			for _, e := range []string{"PIP_NO_INDEX=1", "PIP_CONFIG_FILE=/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_FIND_LINKS=" + b} {
				if !slices.Contains(c.Env, e) {
					t.Errorf("env %q, want %s", c.Env, e)
				}
			}
		})
	}
}

func TestPythonPrepareErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"setup_install without glob", []string{"setup_install"}, "needs exactly one GLOB"},
		{"setup_install two globs", []string{"setup_install", "a-*", "b-*"}, "needs exactly one GLOB"},
		{"setup_install empty venv", []string{"setup_install", "a-*", "--venv="}, "--venv needs a path"},
		{"setup_install glob leaves", []string{"setup_install", "../a-*"}, "leaves the bundle"},
		{"pip_install nothing", []string{"pip_install"}, "needs a SPEC or --requirements"},
		{"pip_install index option", []string{"pip_install", "--index-url=https://pypi.org/simple", "app"}, "unknown flag"},
		{"pip_install option after --", []string{"pip_install", "--", "-e", "."}, `SPEC "-e"`},
		{"pip_install URL", []string{"pip_install", "https://example.com/app.whl"}, "is a URL"},
		{"pip_install direct reference", []string{"pip_install", "app @ https://example.com/app.whl"}, "is a URL"},
		{"pip_install file URL", []string{"pip_install", "file:///tmp/elsewhere/x-1.0-py3-none-any.whl"}, "is a URL"},
		{"pip_install file outside the bundle", []string{"pip_install", "../dist/app-*.whl"}, "leaves the bundle"},
		{"pip_install absolute file", []string{"pip_install", "/srv/app.whl"}, "must be relative to the bundle"},
		{"pip_install bad glob", []string{"pip_install", "app-[.whl"}, "bad glob"},
		{"pip_install requirements leave", []string{"pip_install", "--requirements", "../r.txt"}, "--requirements"},
		{"pip_install empty venv", []string{"pip_install", "app", "--venv", ""}, "--venv needs a path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Prepare(jobs.Job{Host: jobs.Remote, Op: tt.args[0], Args: tt.args[1:]})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestIsGlob(t *testing.T) {
	tests := []struct {
		spec string
		want bool
	}{
		{"app-*.whl", true},
		{"app-?.whl", true},
		{"app-[12].whl", true},
		{"app[web]", false},
		{"app[web,cli]>=2.0", false},
		{"app[web] ; python_version>'3'", false},
		{"app[web].whl", true},
		{"[web]", true},
		{"flask>=2", false},
		{"app-1.0-py3-none-any.whl", false},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			if got := isGlob(tt.spec); got != tt.want {
				t.Errorf("isGlob(%q) = %v, want %v", tt.spec, got, tt.want)
			}
		})
	}
}
