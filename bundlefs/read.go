package bundlefs

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/pkg/sftp"

	"github.com/concdeploy/conc/jobs"
)

// ReadFile reads at most max bytes of the regular file p on the node, for
// a preview, and writes nothing. p is absolute, or relative to the admin's
// home and resolved in it as WriteFile resolves it, a last symlink not
// followed: what a preview reads is what a write would replace. A symlink
// or anything else that is not a regular file there is an error wrapping
// jobs.ErrNotRegular. ctx ending closes the file, which ends the read.
func ReadFile(ctx context.Context, c *sftp.Client, p string, max int64) ([]byte, fs.FileMode, error) {
	if !path.IsAbs(p) {
		home, err := OpenRoot(c, ".", "the home directory")
		if err != nil {
			return nil, 0, err
		}
		if p, err = home.Resolve(p, false); err != nil {
			return nil, 0, err
		}
	}
	fi, err := c.Lstat(p)
	switch {
	case err != nil:
		return nil, 0, err
	case !fi.Mode().IsRegular():
		return nil, 0, fmt.Errorf("%s is a %v: %w", p, fi.Mode().Type(), jobs.ErrNotRegular)
	case fi.Size() > max:
		return nil, 0, jobs.ErrTooLarge
	}
	f, err := c.Open(p)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	switch {
	case ctx.Err() != nil:
		return nil, 0, fmt.Errorf("read %s: %w", p, context.Cause(ctx))
	case err == nil && int64(len(b)) > max:
		err = jobs.ErrTooLarge
	}
	return b, fi.Mode(), err
}

// Free is the space an unprivileged user may still write in the file
// system of p on the node, when the server says (OpenSSH's statvfs).
func Free(c *sftp.Client, p string) (int64, bool) { return free(c, p) }
