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

	"errors"
	"golang.org/x/sync/errgroup"
)

// copyParallel is how many files copy_product writes at once. Each file
// costs a few round trips (open, close, rename) besides its data, so many
// small files go fastest side by side.
const copyParallel = 16

type copyProduct struct{}

func (copyProduct) Info() jobs.Info {
	return jobs.Info{
		Name: "copy_product", Usage: "GLOB... [--to DIR]",
		Doc:   "copy local files and directories (globs relative to the deploy file) into the node's bundle over SFTP, keeping relative paths and modes; what the node's store holds is linked, not sent",
		Hosts: []jobs.Host{jobs.Local}, Bundle: jobs.WritesBundle,
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

var _ jobs.LocalInputs = copyAction{}

// CheckInputs implements jobs.LocalInputs: every glob matches a file.
func (a copyAction) CheckInputs(dir string) error {
	if _, res := jobs.ExpandGlobs(dir, a.globs); res != nil {
		return errors.New(res.Message)
	}
	return nil
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
	ns, err := reachStore(ctx, env)
	if err != nil {
		return storeFailed(err)
	}
	if ns != nil {
		return storeCopy(ctx, env, ns, dirs, files)
	}
	rfs, err := env.Remote(ctx)
	if err != nil {
		return jobs.Resultf(jobs.Error, "reach the node's bundle: %v", err)
	}
	// Refused before a directory is made.
	if res := checkSpace(env, total, rfs.Free); res != nil {
		return *res
	}
	for _, d := range dirs {
		if err := rfs.MkdirAll(d.dst, d.mode); err != nil {
			return jobs.Resultf(jobs.Failed, "%v", err)
		}
	}
	bar := rfs.Progress("copy_product", total)
	defer bar.Done()
	var sent, same atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copyParallel)
	for _, f := range files {
		g.Go(func() error {
			changed, err := rfs.Upload(gctx, f.src, f.dst, f.mode, func(n int64) {
				sent.Add(n)
				bar.Add(n)
			})
			if err == nil && !changed {
				same.Add(1)
				bar.Add(f.size)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return jobs.Resultf(jobs.Failed, "%v", err)
	}
	return copied(len(files), int64(len(files))-same.Load(), sent.Load(), 0, same.Load())
}

// copied is a copy's result: of files, sent went in bytes, linked came
// from the node's store, had were there already.
func copied(files int, sentFiles, sent, linked, had int64) jobs.Result {
	msg := fmt.Sprintf("%d file(s), %d byte(s)", files, sent)
	if had > 0 || linked > 0 {
		msg = fmt.Sprintf("%d file(s), %d byte(s) sent", sentFiles, sent)
		if linked > 0 {
			msg += fmt.Sprintf("; %d from the node's store", linked)
		}
		if had > 0 {
			msg += fmt.Sprintf("; %d already there", had)
		}
	}
	return change(had < int64(files), jobs.Resultf(jobs.OK, "%s", msg))
}

// reachStore returns the node's store, or nil when the run has none.
func reachStore(ctx context.Context, env jobs.Env) (NodeStore, error) {
	if sr, ok := env.(StoreReacher); ok {
		return sr.Store(ctx)
	}
	return nil, nil
}

func storeFailed(err error) jobs.Result {
	if errors.Is(err, jobs.ErrBundleLost) {
		return jobs.Resultf(jobs.Error, "%v", err)
	}
	return jobs.Resultf(jobs.Failed, "%v", err)
}

// checkSpace refuses a copy of total bytes that the node has no room for,
// when free can say.
func checkSpace(env jobs.Env, total int64, free func() (int64, bool)) *jobs.Result {
	if n, ok := free(); ok && total > n {
		res := jobs.Resultf(jobs.Failed, "no space for %d byte(s) on %s: %d byte(s) free where the bundle is; nothing was sent", total, env.Node(), n)
		return &res
	}
	return nil
}

// plan walks the matches: a file goes to the bundle under its name, a
// directory with its tree below it. Symlinks are followed, as scp -r does,
// so a linked directory arrives with its files; a link that leads back
// into a directory being copied is an error, not a loop.
func (a copyAction) plan(matches []string) (dirs, files []transfer, total int64, err error) {
	if a.to != "." {
		dirs = append(dirs, transfer{dst: a.to, mode: 0o700})
	}
	var walk func(src, dst string, parents []string) error
	walk = func(src, dst string, parents []string) error {
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir() && a.filesOnly:
			return fmt.Errorf("%s is a directory; put takes files, copy_product takes directories", src)
		case fi.IsDir():
			real, err := filepath.EvalSymlinks(src)
			if err != nil {
				return err
			}
			for _, p := range parents {
				if p == real {
					return fmt.Errorf("%s leads back into %s, which is being copied", src, p)
				}
			}
			dirs = append(dirs, transfer{dst: dst, mode: fi.Mode().Perm() | 0o700})
			entries, err := os.ReadDir(src)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := walk(filepath.Join(src, e.Name()), path.Join(dst, e.Name()), append(parents, real)); err != nil {
					return err
				}
			}
		case fi.Mode().IsRegular():
			files = append(files, transfer{src: src, dst: dst, mode: fi.Mode().Perm(), size: fi.Size()})
			total += fi.Size()
		default:
			return fmt.Errorf("%s is neither a file nor a directory", src)
		}
		return nil
	}
	for _, m := range matches {
		if err := walk(m, path.Join(a.to, filepath.Base(m)), nil); err != nil {
			return nil, nil, 0, err
		}
	}
	return dirs, files, total, nil
}
