package nodeops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/concdeploy/conc/jobs"
	"github.com/spf13/pflag"
)

// ParamVenv is the node param that ops taking --venv default to.
const ParamVenv = "venv"

type createVenv struct{}

func (createVenv) Info() jobs.Info {
	return jobs.Info{
		Name: "create_venv", Usage: "PATH [--without-pip]",
		Doc:   "create a Python virtual environment at PATH (relative to the home directory) with the node's python3, and check that its python runs",
		Hosts: []jobs.Host{jobs.Remote},
	}
}

func (createVenv) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	fs := jobs.NewFlags("create_venv", true)
	withoutPip := fs.Bool("without-pip", false, "do not install pip into the venv")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 || fs.Arg(0) == "" {
		return nil, fmt.Errorf("needs exactly one PATH")
	}
	return createVenvAction{path: fs.Arg(0), withoutPip: *withoutPip}, nil
}

type createVenvAction struct {
	path       string
	withoutPip bool
}

func (a createVenvAction) Run(ctx context.Context, env jobs.Env) jobs.Result {
	dir := homePath(env, a.path)
	argv := []string{"python3", "-m", "venv"}
	if a.withoutPip {
		argv = append(argv, "--without-pip")
	}
	argv = append(argv, dir)
	// The output goes to the job's output and a tail is kept here, to
	// recognise Debian's missing python3-venv.
	out := jobs.NewTail(env.Output())
	code, err := env.Exec(ctx, jobs.Command{Argv: argv, Dir: env.Home(), Stdout: out, Stderr: out})
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return jobs.Result{Status: jobs.Failed, ExitCode: code, Message: "python3 is missing on the node: install python3 and python3-venv (apt-get install python3 python3-venv)"}
	case err != nil:
		return jobs.Result{Status: jobs.Failed, ExitCode: code, Message: fmt.Sprintf("python3 -m venv %s: %v", dir, err)}
	case code != 0:
		msg := fmt.Sprintf("python3 -m venv %s: exit status %d", dir, code)
		if noEnsurepip(out.Bytes()) {
			msg += ": ensurepip is not available; install python3-venv on the node (apt-get install python3-venv), or pass --without-pip"
		}
		return jobs.Result{Status: jobs.Failed, ExitCode: code, Message: msg}
	}
	if res := checkVenv(ctx, env, dir); res != nil {
		return *res
	}
	return jobs.Resultf(jobs.OK, "%s", dir)
}

// noEnsurepip recognises Debian's python3 without python3-venv in the
// output of python3 -m venv, which wraps its message across lines.
func noEnsurepip(out []byte) bool {
	return strings.Contains(strings.Join(strings.Fields(string(out)), " "), "ensurepip is not available")
}

// checkVenv runs the venv's own python and checks that it knows it is in
// the venv: a venv whose python does not run is no venv.
func checkVenv(ctx context.Context, env jobs.Env, dir string) *jobs.Result {
	py := filepath.Join(dir, "bin", "python")
	var stdout bytes.Buffer
	code, err := env.Exec(ctx, jobs.Command{
		Argv: []string{py, "-c", "import sys; print(sys.prefix)"},
		Dir:  env.Home(), Stdout: &stdout, Stderr: env.Output(),
	})
	if err != nil || code != 0 {
		r := jobs.ExitResult(code, err)
		r.Message = fmt.Sprintf("the venv's python %s does not run: %s", py, r.Message)
		return &r
	}
	got := strings.TrimSpace(stdout.String())
	if !samePath(got, dir) {
		r := jobs.Resultf(jobs.Failed, "the venv's python %s reports prefix %q, not %s", py, got, dir)
		return &r
	}
	return nil
}

// samePath reports whether a and b name the same directory once symlinks
// are resolved.
func samePath(a, b string) bool {
	ra, err := filepath.EvalSymlinks(a)
	if err != nil {
		return false
	}
	rb, err := filepath.EvalSymlinks(b)
	return err == nil && ra == rb
}

// homePath resolves p against the home directory unless it is absolute.
func homePath(env jobs.Env, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(env.Home(), p)
}

// venvPython returns the python of the venv at venv, which is relative to
// the home directory unless absolute.
func venvPython(env jobs.Env, venv string) string {
	return filepath.Join(homePath(env, venv), "bin", "python")
}

// venvFlag adds --venv to fs. Ops that need a venv take it and otherwise
// use the node's venv param, which only Run can see.
func venvFlag(fs *pflag.FlagSet) *string {
	return fs.String("venv", "", "the venv, relative to the home directory (default: the node's venv param)")
}

// checkVenvFlag refuses an empty --venv at load time.
func checkVenvFlag(fs *pflag.FlagSet, venv string) error {
	if fs.Changed("venv") && venv == "" {
		return fmt.Errorf("--venv needs a path")
	}
	return nil
}

// resolveVenv returns the venv's python: from --venv when it was given,
// else from the node's venv param. No venv, or one without a python, is a
// FAILED result.
func resolveVenv(env jobs.Env, flag string) (string, *jobs.Result) {
	venv := flag
	if venv == "" {
		venv = env.Params()[ParamVenv]
	}
	if venv == "" {
		r := jobs.Resultf(jobs.Failed, "no venv: set venv = PATH in the deploy file or pass --venv")
		return "", &r
	}
	py := venvPython(env, venv)
	if _, err := os.Stat(py); err != nil {
		r := jobs.Resultf(jobs.Failed, "no venv at %s (create_venv first)", homePath(env, venv))
		return "", &r
	}
	return py, nil
}
