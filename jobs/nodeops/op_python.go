package nodeops

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/concdeploy/conc/jobs"
)

// pipEnv keeps pip, and setuptools when it calls pip, off every package
// index whatever the node's pip configuration and environment say: the
// bundle is the only place packages come from.
func pipEnv(bundle string) []string {
	return []string{
		"PIP_NO_INDEX=1",
		"PIP_CONFIG_FILE=/dev/null",
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1",
		"PIP_FIND_LINKS=" + bundle,
	}
}

type setupInstall struct{}

func (setupInstall) Info() jobs.Info {
	return jobs.Info{
		Name: "setup_install", Usage: "GLOB [--venv PATH]",
		Doc:   "run setup.py install with the venv's python in the one bundle directory matching GLOB that holds a setup.py",
		Hosts: []jobs.Host{jobs.Remote},
	}
}

func (setupInstall) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	fs := jobs.NewFlags("setup_install", true)
	venv := venvFlag(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := checkVenvFlag(fs, *venv); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 {
		return nil, fmt.Errorf("needs exactly one GLOB")
	}
	glob, err := bundleGlob(fs.Arg(0))
	if err != nil {
		return nil, err
	}
	return setupInstallAction{glob: glob, venv: *venv}, nil
}

type setupInstallAction struct {
	glob string
	venv string
}

func (a setupInstallAction) Run(ctx context.Context, env jobs.Env) jobs.Result {
	py, res := resolveVenv(env, a.venv)
	if res != nil {
		return *res
	}
	src, res := a.source(env.Dir())
	if res != nil {
		return *res
	}
	c := jobs.Command{Argv: []string{py, "setup.py", "install"}, Dir: src, Env: pipEnv(env.Dir())}
	r := jobs.ExitResult(env.Exec(ctx, c))
	if r.Status == jobs.OK {
		r.Message = fmt.Sprintf("installed %s into %s", relTo(env.Dir(), src), filepath.Dir(filepath.Dir(py)))
	}
	return r
}

// source returns the one directory the glob matches that holds a setup.py.
func (a setupInstallAction) source(dir string) (string, *jobs.Result) {
	m, err := filesMatching(dir, a.glob, true)
	if err != nil {
		r := jobs.Resultf(jobs.Failed, "%v", err)
		return "", &r
	}
	var srcs []string
	for _, d := range m {
		if fi, err := os.Stat(filepath.Join(d, "setup.py")); err == nil && fi.Mode().IsRegular() {
			srcs = append(srcs, d)
		}
	}
	switch len(srcs) {
	case 1:
		return srcs[0], nil
	case 0:
		r := jobs.Resultf(jobs.Failed, "%q matches no directory with a setup.py in %s (untar the source first?)", a.glob, dir)
		if len(m) > 0 {
			r.Message += "; directories without one: " + relList(dir, m)
		}
		return "", &r
	}
	r := jobs.Resultf(jobs.Failed, "%q matches %d directories with a setup.py in %s: %s; narrow the glob", a.glob, len(srcs), dir, relList(dir, srcs))
	return "", &r
}

type pipInstall struct{}

func (pipInstall) Info() jobs.Info {
	return jobs.Info{
		Name: "pip_install", Usage: "SPEC... [--requirements FILE] [--venv PATH] [--no-build-isolation]",
		Doc:   "pip install into the venv from the bundle only (--no-index --find-links BUNDLE); a SPEC that matches bundle files as a glob installs those files",
		Hosts: []jobs.Host{jobs.Remote},
	}
}

func (pipInstall) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	fs := jobs.NewFlags("pip_install", true)
	venv := venvFlag(fs)
	reqs := fs.String("requirements", "", "requirements file in the bundle")
	noIsolation := fs.Bool("no-build-isolation", false, "build source packages with the venv's own setuptools")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := checkVenvFlag(fs, *venv); err != nil {
		return nil, err
	}
	a := pipInstallAction{specs: fs.Args(), venv: *venv, noIsolation: *noIsolation}
	if fs.Changed("requirements") {
		r, err := jobs.InsideBundle(*reqs)
		if err != nil || *reqs == "" {
			return nil, fmt.Errorf("--requirements: %q is not a file in the bundle", *reqs)
		}
		a.requirements = r
	}
	if len(a.specs) == 0 && a.requirements == "" {
		return nil, fmt.Errorf("needs a SPEC or --requirements")
	}
	for _, s := range a.specs {
		if err := checkSpec(s); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// isGlob reports whether spec is meant as a glob over bundle files. Its
// brackets are not a glob in a requirement with extras, "name[extra,...]".
func isGlob(spec string) bool {
	if strings.ContainsAny(spec, "*?") {
		return true
	}
	return strings.Contains(spec, "[") && !isExtrasSpec(spec)
}

// isExtrasSpec reports whether spec reads NAME[EXTRAS] followed by
// nothing or a version or marker.
func isExtrasSpec(spec string) bool {
	name, rest, _ := strings.Cut(spec, "[")
	extras, after, ok := strings.Cut(rest, "]")
	return ok && name != "" && onlyChars(name, "._-") && onlyChars(extras, "._, -") &&
		(after == "" || strings.ContainsRune(" ;<>=!~@", rune(after[0])))
}

// onlyChars reports whether s holds only ASCII letters, digits and the
// runes in extra.
func onlyChars(s, extra string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

// checkSpec refuses SPECs that would make pip look beyond the bundle or
// that pip would read as options.
func checkSpec(s string) error {
	switch {
	case s == "" || strings.HasPrefix(s, "-"):
		return fmt.Errorf("SPEC %q is not a requirement or a file; pip_install takes no pip options", s)
	case hasURL(s):
		return fmt.Errorf("SPEC %q is a URL; pip_install installs only from the bundle", s)
	case strings.Contains(s, "/"):
		if _, err := jobs.InsideBundle(s); err != nil {
			return fmt.Errorf("SPEC %w; pip_install installs only from the bundle", err)
		}
	}
	if isGlob(s) {
		return jobs.CheckGlobs([]string{s})
	}
	return nil
}

// hasURL reports whether s names a URL, file:// ones included: a file
// URL can name any file on the node, and pip_install installs from the
// bundle only; a file in the bundle is named by its path.
func hasURL(s string) bool {
	return strings.Contains(s, "://")
}

type pipInstallAction struct {
	specs        []string
	requirements string
	venv         string
	noIsolation  bool
}

func (a pipInstallAction) Run(ctx context.Context, env jobs.Env) jobs.Result {
	py, res := resolveVenv(env, a.venv)
	if res != nil {
		return *res
	}
	argv, res := a.argv(py, env.Dir())
	if res != nil {
		return *res
	}
	out := &installWatcher{w: env.Output()}
	r := jobs.ExitResult(env.Exec(ctx, jobs.Command{Argv: argv, Dir: env.Dir(), Env: pipEnv(env.Dir()), Stdout: out, Stderr: out}))
	if r.Status == jobs.OK {
		r.Message = fmt.Sprintf("installed into %s", filepath.Dir(filepath.Dir(py)))
		r.Change = jobs.Unchanged
		if out.installed {
			r.Change = jobs.Changed
		}
	}
	return r
}

// installWatcher passes pip's output on and notes whether pip installed
// anything: it prints "Successfully installed NAME-VERSION..." then, and
// only "Requirement already satisfied" for what the venv had. The line is
// looked for at each line start, so a write split inside it still counts
// once the rest of the line arrives.
type installWatcher struct {
	w         io.Writer
	line      []byte // the start of the current line, up to len(installedLine)
	installed bool
}

const installedLine = "Successfully installed "

func (w *installWatcher) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case b == '\n':
			w.line = w.line[:0]
		case len(w.line) < len(installedLine):
			w.line = append(w.line, b)
			if string(w.line) == installedLine {
				w.installed = true
			}
		}
	}
	return w.w.Write(p)
}

// argv builds pip's command line: never an index, the bundle as the only
// place packages come from.
func (a pipInstallAction) argv(py, bundle string) ([]string, *jobs.Result) {
	argv := []string{py, "-m", "pip", "install", "--no-index", "--find-links", bundle}
	if a.noIsolation {
		argv = append(argv, "--no-build-isolation")
	}
	if a.requirements != "" {
		f := filepath.Join(bundle, a.requirements)
		if err := checkRequirements(f); err != nil {
			r := jobs.Resultf(jobs.Failed, "--requirements: %v", err)
			return nil, &r
		}
		argv = append(argv, "-r", f)
	}
	for _, s := range a.specs {
		if isGlob(s) || !strings.ContainsAny(s, "<>=!~;@ []") {
			m, err := filesMatching(bundle, s, false)
			if err == nil && len(m) > 0 {
				argv = append(argv, m...)
				continue
			}
		}
		if isGlob(s) {
			r := jobs.Resultf(jobs.Failed, "%q matches no file in %s", s, bundle)
			return nil, &r
		}
		argv = append(argv, s)
	}
	return argv, nil
}

// checkRequirements refuses a requirements file that is missing or that
// names a URL: it would take pip beyond the bundle.
func checkRequirements(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), " #")
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || isIndexOption(line) {
			continue // --no-index makes pip ignore index options
		}
		if hasURL(line) {
			return fmt.Errorf("%s:%d names a URL; pip_install installs only from the bundle", file, n)
		}
	}
	return sc.Err()
}

func isIndexOption(line string) bool {
	for _, o := range []string{"-i", "--index-url", "--extra-index-url"} {
		if line == o || strings.HasPrefix(line, o+" ") || strings.HasPrefix(line, o+"=") {
			return true
		}
	}
	return false
}
