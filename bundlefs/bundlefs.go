// Package bundlefs is the node's bundle as the workstation reaches it, over
// SFTP: the files local jobs deliver into it (put, copy_product), the files
// template writes, and the bundle shell. Every path is taken relative to a
// Root, the bundle or the home directory, and a path that leaves it, by its
// text or through a symbolic link, is refused.
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
	"sync"
	"time"

	"github.com/concdeploy/conc/jobs"
	"github.com/pkg/sftp"
)

// FS is the node's bundle over SFTP, for local jobs that deliver files.
// Paths are relative to the bundle and resolved in a Root of it, so none
// leads out, through a symlink an earlier job made or otherwise.
type FS struct {
	c        *sftp.Client
	bundle   *Root
	home     *Root     // for WriteFile's relative paths; opened when first needed
	terminal io.Writer // where a progress bar goes; nil for none

	// dirs are the directories an upload of this job went into, each
	// listed once (one round trip, not one a file) for Upload's check of
	// what is there already; a directory MkdirAll made is known empty.
	mu   sync.Mutex
	dirs map[string]*listing
}

// listing is what a directory of the bundle held when it was first read.
type listing struct {
	once  sync.Once
	files map[string]fs.FileInfo
}

// listed returns the listing of the directory dir (a real path), reading
// it the first time. A directory that cannot be read lists nothing: its
// files are sent.
func (b *FS) listed(dir string) map[string]fs.FileInfo {
	b.mu.Lock()
	if b.dirs == nil {
		b.dirs = map[string]*listing{}
	}
	l := b.dirs[dir]
	if l == nil {
		l = &listing{}
		b.dirs[dir] = l
	}
	b.mu.Unlock()
	l.once.Do(func() {
		l.files = map[string]fs.FileInfo{}
		entries, _ := b.c.ReadDir(dir)
		for _, e := range entries {
			l.files[e.Name()] = e
		}
	})
	return l.files
}

// madeEmpty notes that dir was just made by this job: it holds nothing.
func (b *FS) madeEmpty(dir string) {
	l := &listing{files: map[string]fs.FileInfo{}}
	l.once.Do(func() {})
	b.mu.Lock()
	if b.dirs == nil {
		b.dirs = map[string]*listing{}
	}
	b.dirs[dir] = l
	b.mu.Unlock()
}

// Progress implements jobs.RemoteFS.
func (b *FS) Progress(what string, total int64) jobs.Progress {
	return NewProgress(b.terminal, what, total)
}

var _ jobs.RemoteFS = (*FS)(nil)

// Open opens the bundle at bundle (relative to the admin's home, as SFTP
// resolves it) over c. A missing bundle is an error, wrapping ErrNoRoot: it
// is not created. A progress bar, when a job asks for one, goes to
// terminal; nil for none.
func Open(c *sftp.Client, bundle string, terminal io.Writer) (*FS, error) {
	root, err := OpenRoot(c, bundle, "the bundle")
	if err != nil {
		return nil, err
	}
	return &FS{c: c, bundle: root, terminal: terminal}, nil
}

// Free implements jobs.RemoteFS, with OpenSSH's statvfs extension.
func (b *FS) Free() (int64, bool) {
	return free(b.c, b.bundle.Real())
}

// free is the space an unprivileged user may still write in the file
// system of p on the node, when the server says.
func free(c *sftp.Client, p string) (int64, bool) {
	if _, ok := c.HasExtension("statvfs@openssh.com"); !ok {
		return 0, false
	}
	vfs, err := c.StatVFS(p)
	if err != nil {
		return 0, false
	}
	return int64(vfs.Bavail * vfs.Frsize), true
}

// path resolves p, relative to the bundle, to its real path on the node;
// a last symlink is not followed, so a write replaces it.
func (b *FS) path(p string) (string, error) {
	rel, err := jobs.InsideBundle(p)
	if err != nil {
		return "", err
	}
	return b.bundle.Resolve(rel, false)
}

// MkdirAll implements jobs.RemoteFS: a directory it creates gets mode. Each
// part is resolved in the bundle before it is made, so a link on the way
// may lead within the bundle but not out of it.
func (b *FS) MkdirAll(dir string, mode fs.FileMode) error {
	rel, err := jobs.InsideBundle(dir)
	if err != nil {
		return err
	}
	at := "."
	for _, part := range splitPath(rel) {
		at = path.Join(at, part)
		real, err := b.bundle.Resolve(at, true)
		if err != nil {
			return err
		}
		if fi, err := b.c.Stat(real); err == nil && fi.IsDir() {
			continue // a directory there already keeps its mode
		}
		err = b.c.Mkdir(real)
		if err == nil {
			b.madeEmpty(real)
			err = b.c.Chmod(real, mode)
		} else if fi, serr := b.c.Stat(real); serr == nil && fi.IsDir() {
			err = nil // made at the same moment by another upload of the job
		}
		if err != nil {
			return fmt.Errorf("create %s on the node: %w", real, err)
		}
	}
	return nil
}

// Upload implements jobs.RemoteFS. A file already at dst with src's size,
// mode and modification time is left as it is, as rsync's quick check
// leaves it: a copy gives the node's file the local one's mtime, and a
// change by hand on the node gives it another. What is there is read once
// per directory, from a listing (a new bundle's costs one round trip, a
// directory the job made none), never by a stat a file.
func (b *FS) Upload(ctx context.Context, src, dst string, mode fs.FileMode, progress func(int64)) (bool, error) {
	p, err := b.path(dst)
	if err != nil {
		return false, err
	}
	in, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return false, err
	}
	if have, ok := b.listed(path.Dir(p))[path.Base(p)]; ok && have.Mode().IsRegular() && have.Size() == fi.Size() &&
		have.Mode().Perm() == mode.Perm() && have.ModTime().Unix() == fi.ModTime().Unix() {
		return false, nil
	}
	var r io.Reader = in
	if progress != nil {
		r = &progressReader{r: in, f: progress}
	}
	return true, writeAtomic(ctx, b.c, p, r, mode, fi.ModTime())
}

// WriteFile implements jobs.RemoteFS: path is absolute, or relative to
// the admin's home, in which it then stays: a relative path that leads out
// of the home, by ".." or through a symlink, is refused. Missing parent
// directories are made. A file that already holds data with mode is left
// as it is.
func (b *FS) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode) (bool, error) {
	if !path.IsAbs(p) {
		if b.home == nil {
			home, err := OpenRoot(b.c, ".", "the home directory")
			if err != nil {
				return false, err
			}
			b.home = home
		}
		real, err := b.home.Resolve(p, false)
		if err != nil {
			return false, err
		}
		p = real
	}
	if b.holds(p, data, mode) {
		return false, nil
	}
	if err := b.c.MkdirAll(path.Dir(p)); err != nil {
		return false, fmt.Errorf("create %s on the node: %w", path.Dir(p), err)
	}
	return true, WriteAtomic(ctx, b.c, p, bytes.NewReader(data), mode)
}

// maxCompare bounds the file WriteFile reads to compare: a template is
// small, and a larger file is written again rather than read first.
const maxCompare = 4 << 20

// holds reports whether the regular file p holds data with mode.
func (b *FS) holds(p string, data []byte, mode fs.FileMode) bool {
	fi, err := b.c.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != mode.Perm() || fi.Size() != int64(len(data)) || len(data) > maxCompare {
		return false
	}
	f, err := b.c.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	have, err := io.ReadAll(io.LimitReader(f, maxCompare+1))
	return err == nil && bytes.Equal(have, data)
}

// WriteAtomic writes r to p on the node under a temporary name in the same
// directory, with pkg/sftp's concurrent writes (for a reader whose size it
// can learn), then renames it over p with PosixRename, so that a reader on
// the node never sees half a file. The temporary file is removed on error.
func WriteAtomic(ctx context.Context, c *sftp.Client, p string, r io.Reader, mode fs.FileMode) error {
	return writeAtomic(ctx, c, p, r, mode, time.Time{})
}

// writeAtomic is WriteAtomic, giving the file mtime unless it is zero.
func writeAtomic(ctx context.Context, c *sftp.Client, p string, r io.Reader, mode fs.FileMode, mtime time.Time) error {
	// Not named after the file: a name near NAME_MAX would not fit.
	tmp := path.Join(path.Dir(p), ".conc-tmp-"+randHex(8))
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
	if err == nil && !mtime.IsZero() {
		err = c.Chtimes(tmp, mtime, mtime)
	}
	if _, ok := c.HasExtension("fsync@openssh.com"); ok && err == nil {
		// On the node's disk before it takes the file's name. A server
		// without the extension leaves that to its own file system.
		err = f.Sync()
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
		// SFTP says only "failure" for a full disk; ask the disk.
		if n, ok := free(c, path.Dir(p)); ok && n < 1<<20 {
			return fmt.Errorf("%w: %s: %v", jobs.ErrNoSpace, p, err)
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
