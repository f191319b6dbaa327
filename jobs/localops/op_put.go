package localops

import (
	"context"
	"fmt"
	"github.com/concdeploy/conc/jobs"
	"os"
	"path"
	"path/filepath"
)

func init() { jobs.Register(put{}) }

type put struct{}

func (put) Info() jobs.Info {
	return jobs.Info{
		Name: "put", Usage: "GLOB... [--to DIR]",
		Doc:   "upload local files matching the globs into the node's bundle (or DIR inside it) over SFTP",
		Hosts: []jobs.Host{jobs.Local},
	}
}

func (put) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	fs := jobs.NewFlags("put", true)
	to := fs.String("to", ".", "directory inside the bundle")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if len(fs.Args()) == 0 {
		return nil, fmt.Errorf("needs at least one glob")
	}
	if err := jobs.CheckGlobs(fs.Args()); err != nil {
		return nil, err
	}
	dir, err := jobs.InsideBundle(*to)
	if err != nil {
		return nil, fmt.Errorf("--to: %w", err)
	}
	return putAction{globs: fs.Args(), to: dir}, nil
}

type putAction struct {
	globs []string
	to    string
}

func (a putAction) Run(ctx context.Context, env jobs.Env) jobs.Result {
	files, res := jobs.ExpandGlobs(env.Dir(), a.globs)
	if res != nil {
		return *res
	}
	rfs, err := env.Remote(ctx)
	if err != nil {
		return jobs.Resultf(jobs.Error, "reach the node's bundle: %v", err)
	}
	if a.to != "." {
		if err := rfs.MkdirAll(a.to, 0o700); err != nil {
			return jobs.Resultf(jobs.Failed, "create %s in the bundle: %v", a.to, err)
		}
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return jobs.Resultf(jobs.Failed, "%v", err)
		}
		if fi.IsDir() {
			return jobs.Resultf(jobs.Failed, "%s is a directory; put takes files, copy_product takes directories", f)
		}
		dst := path.Join(a.to, filepath.Base(f))
		if err := rfs.Upload(ctx, f, dst, fi.Mode().Perm(), nil); err != nil {
			return jobs.Resultf(jobs.Failed, "upload %s: %v", f, err)
		}
	}
	return jobs.Resultf(jobs.OK, "%d file(s)", len(files))
}
