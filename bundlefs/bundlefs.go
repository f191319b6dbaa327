// Package bundlefs is the node's bundle as the workstation reaches it, over
// SFTP: the files local jobs deliver into it (put, copy_product), the files
// template writes, and the bundle shell. Every path is taken relative to the
// bundle, and a path that leaves it, by its text or through a symbolic
// link, is refused.
package bundlefs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/concdeploy/conc/jobs"
	"github.com/pkg/sftp"
)

// FS is the node's bundle over SFTP, for local jobs that deliver
// files. Paths are relative to the bundle.
type FS struct {
	c        *sftp.Client
	bundle   string    // relative to the home directory, as SFTP resolves it
	terminal io.Writer // where a progress bar goes; nil for none
}

// Progress implements jobs.RemoteFS.
func (b *FS) Progress(what string, total int64) jobs.Progress {
	return newProgress(b.terminal, what, total)
}

var _ jobs.RemoteFS = (*FS)(nil)

// New returns the bundle at bundle (relative to the admin's home, as SFTP
// resolves it) over c. A progress bar, when a job asks for one, goes to
// terminal; nil for none.
func New(c *sftp.Client, bundle string, terminal io.Writer) *FS {
	return &FS{c: c, bundle: bundle, terminal: terminal}
}

func (b *FS) path(p string) (string, error) {
	rel, err := jobs.InsideBundle(p)
	if err != nil {
		return "", err
	}
	return path.Join(b.bundle, rel), nil
}

// MkdirAll implements jobs.RemoteFS: a directory it creates gets mode. It
// creates directories below the bundle only, never the bundle itself: a
// bundle that is gone is another run's business, and one made here would
// lock the node with no record.
func (b *FS) MkdirAll(dir string, mode fs.FileMode) error {
	p, err := b.path(dir)
	if err != nil {
		return err
	}
	if fi, err := b.c.Stat(p); err == nil && fi.IsDir() {
		return nil // a directory there already keeps its mode
	}
	rel, _ := jobs.InsideBundle(dir)
	if rel == "." {
		return fmt.Errorf("the bundle ~/%s is not there on the node", b.bundle)
	}
	at := b.bundle
	for _, part := range strings.Split(rel, "/") {
		at = path.Join(at, part)
		err := b.c.Mkdir(at)
		if err == nil {
			err = b.c.Chmod(at, mode)
		} else if fi, serr := b.c.Stat(at); serr == nil && fi.IsDir() {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("create %s on the node: %w", at, err)
		}
	}
	return nil
}

// Upload implements jobs.RemoteFS.
func (b *FS) Upload(ctx context.Context, src, dst string, mode fs.FileMode, progress func(int64)) error {
	p, err := b.path(dst)
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	var r io.Reader = in
	if progress != nil {
		r = &progressReader{r: in, f: progress}
	}
	return WriteAtomic(ctx, b.c, p, r, mode)
}

// WriteFile implements jobs.RemoteFS: path is relative to the node's home
// directory, as SFTP resolves it, or absolute.
func (b *FS) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode) error {
	if err := b.c.MkdirAll(path.Dir(p)); err != nil {
		return fmt.Errorf("create %s on the node: %w", path.Dir(p), err)
	}
	return WriteAtomic(ctx, b.c, p, bytes.NewReader(data), mode)
}

// WriteAtomic writes r to p on the node under a temporary name in the same
// directory, with pkg/sftp's concurrent writes (for a reader whose size it
// can learn), then renames it over p with PosixRename, so that a reader on
// the node never sees half a file. The temporary file is removed on error.
func WriteAtomic(ctx context.Context, c *sftp.Client, p string, r io.Reader, mode fs.FileMode) error {
	tmp := path.Join(path.Dir(p), ".conc-tmp-"+randHex(6)+"-"+path.Base(p))
	f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s on the node: %w", tmp, err)
	}
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	_, err = f.ReadFrom(r)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = c.PosixRename(tmp, p)
	}
	if err != nil {
		c.Remove(tmp)
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return fmt.Errorf("write %s on the node: %w", p, err)
	}
	return nil
}

// progressReader reports bytes read. pkg/sftp's ReadFrom takes the size
// from a reader that has Size or Stat, so progressReader passes Stat on.
type progressReader struct {
	r *os.File
	f func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.f(int64(n))
	}
	return n, err
}

func (p *progressReader) Stat() (os.FileInfo, error) { return p.r.Stat() }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
