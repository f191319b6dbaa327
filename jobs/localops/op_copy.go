package localops

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"

	"github.com/concdeploy/conc/jobs"

	"golang.org/x/sync/errgroup"
)

// copyParallel is how many files copy_product writes at once. Each file
// costs a few round trips (open, close, rename) besides its data, so many
// small files go fastest side by side.
const copyParallel = 16

func init() { jobs.Register(copyProduct{}) }

type copyProduct struct{}

func (copyProduct) Info() jobs.Info {
	return jobs.Info{
		Name: "copy_product", Usage: "GLOB... [--to DIR]",
		Doc:   "copy local files and directories (globs relative to the deploy file) into the node's bundle over SFTP, keeping relative paths and modes",
		Hosts: []jobs.Host{jobs.Local},
	}
}

func (copyProduct) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	return parseTransfer("copy_product", args)
}

// parseTransfer reads the arguments of put and copy_product.
func parseTransfer(op string, args []string) (copyAction, error) {
	fs := jobs.NewFlags(op, true)
	to := fs.String("to", ".", "directory inside the bundle")
	if err := fs.Parse(args); err != nil {
		return copyAction{}, err
	}
	if len(fs.Args()) == 0 {
		return copyAction{}, fmt.Errorf("needs at least one glob")
	}
	if err := jobs.CheckGlobs(fs.Args()); err != nil {
		return copyAction{}, err
	}
	dir, err := jobs.InsideBundle(*to)
	if err != nil {
		return copyAction{}, fmt.Errorf("--to: %w", err)
	}
	return copyAction{globs: fs.Args(), to: dir}, nil
}

type copyAction struct {
	globs     []string
	to        string
	filesOnly bool // put: a directory is a mistake, not a tree to copy
}

// transfer is one file to copy.
type transfer struct {
	src, dst string
	mode     fs.FileMode
	size     int64
}

func (a copyAction) Run(ctx context.Context, env jobs.Env) jobs.Result {
	matches, res := jobs.ExpandGlobs(env.Dir(), a.globs)
	if res != nil {
		return *res
	}
	dirs, files, total, err := a.plan(matches)
	if err != nil {
		return jobs.Resultf(jobs.Failed, "%v", err)
	}
	rfs, err := env.Remote(ctx)
	if err != nil {
		return jobs.Resultf(jobs.Error, "reach the node's bundle: %v", err)
	}
	for _, d := range dirs {
		if err := rfs.MkdirAll(d.dst, d.mode); err != nil {
			return jobs.Resultf(jobs.Failed, "%v", err)
		}
	}
	bar := rfs.Progress("copy_product", total)
	defer bar.Done()
	var sent atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copyParallel)
	for _, f := range files {
		g.Go(func() error {
			return rfs.Upload(gctx, f.src, f.dst, f.mode, func(n int64) {
				sent.Add(n)
				bar.Add(n)
			})
		})
	}
	if err := g.Wait(); err != nil {
		return jobs.Resultf(jobs.Failed, "%v", err)
	}
	return jobs.Resultf(jobs.OK, "%d file(s), %d byte(s)", len(files), sent.Load())
}

// plan walks the matches: a file goes to the bundle under its name, a
// directory with its tree below it.
func (a copyAction) plan(matches []string) (dirs, files []transfer, total int64, err error) {
	if a.to != "." {
		dirs = append(dirs, transfer{dst: a.to, mode: 0o700})
	}
	for _, m := range matches {
		base := filepath.Dir(m)
		err := filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(base, p)
			if err != nil {
				return err
			}
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			dst := path.Join(a.to, filepath.ToSlash(rel))
			switch {
			case fi.IsDir() && a.filesOnly:
				return fmt.Errorf("%s is a directory; put takes files, copy_product takes directories", p)
			case fi.IsDir():
				dirs = append(dirs, transfer{dst: dst, mode: fi.Mode().Perm() | 0o700})
			case fi.Mode().IsRegular():
				files = append(files, transfer{src: p, dst: dst, mode: fi.Mode().Perm(), size: fi.Size()})
				total += fi.Size()
			default:
				return fmt.Errorf("%s is neither a file nor a directory", p)
			}
			return nil
		})
		if err != nil {
			return nil, nil, 0, err
		}
	}
	return dirs, files, total, nil
}
