package jobs

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
)

func init() { Register(put{}) }

type put struct{}

func (put) Info() Info {
	return Info{
		Name: "put", Usage: "GLOB... [--to DIR]",
		Doc:   "upload local files matching the globs into the node's bundle (or DIR inside it) over SFTP",
		Hosts: []Host{Local},
	}
}

func (put) Prepare(_ Host, args []string) (Action, error) {
	fs := newFlags("put", true)
	to := fs.String("to", ".", "directory inside the bundle")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if len(fs.Args()) == 0 {
		return nil, fmt.Errorf("needs at least one glob")
	}
	if err := checkGlobs(fs.Args()); err != nil {
		return nil, err
	}
	dir, err := InsideBundle(*to)
	if err != nil {
		return nil, fmt.Errorf("--to: %w", err)
	}
	return putAction{globs: fs.Args(), to: dir}, nil
}

type putAction struct {
	globs []string
	to    string
}

func (a putAction) Run(ctx context.Context, env Env) Result {
	files, res := expandGlobs(env.Dir(), a.globs)
	if res != nil {
		return *res
	}
	rfs, err := env.Remote(ctx)
	if err != nil {
		return Resultf(Error, "reach the node's bundle: %v", err)
	}
	if a.to != "." {
		if err := rfs.MkdirAll(a.to, 0o700); err != nil {
			return Resultf(Failed, "create %s in the bundle: %v", a.to, err)
		}
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return Resultf(Failed, "%v", err)
		}
		if fi.IsDir() {
			return Resultf(Failed, "%s is a directory; put takes files, copy_product takes directories", f)
		}
		dst := path.Join(a.to, filepath.Base(f))
		if err := rfs.Upload(ctx, f, dst, fi.Mode().Perm(), nil); err != nil {
			return Resultf(Failed, "upload %s: %v", f, err)
		}
	}
	return Resultf(OK, "%d file(s)", len(files))
}

// checkGlobs rejects malformed patterns at load time.
func checkGlobs(globs []string) error {
	for _, g := range globs {
		if _, err := filepath.Match(g, ""); err != nil {
			return fmt.Errorf("bad glob %q: %w", g, err)
		}
	}
	return nil
}

// expandGlobs expands each glob relative to dir. A glob that matches nothing
// is a FAILED result naming it: a deploy that silently ships nothing is
// worse than one that stops.
func expandGlobs(dir string, globs []string) ([]string, *Result) {
	var files []string
	for _, g := range globs {
		pat := g
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(dir, g)
		}
		m, err := filepath.Glob(pat)
		if err != nil {
			r := Resultf(Failed, "bad glob %q: %v", g, err)
			return nil, &r
		}
		if len(m) == 0 {
			r := Resultf(Failed, "%q matches no file in %s", g, dir)
			return nil, &r
		}
		files = append(files, m...)
	}
	return files, nil
}

// InsideBundle cleans a path that must stay inside the bundle and refuses
// one that leaves it.
func InsideBundle(p string) (string, error) {
	if path.IsAbs(p) {
		return "", fmt.Errorf("%q must be relative to the bundle", p)
	}
	c := path.Clean(p)
	if c == ".." || len(c) > 2 && c[:3] == "../" {
		return "", fmt.Errorf("%q leaves the bundle", p)
	}
	return c, nil
}
