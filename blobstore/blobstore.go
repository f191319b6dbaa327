// Package blobstore is the node's store of the files put and copy_product
// deliver, kept by the sha256 of their content beside the agent cache
// (~/.cache/conc/store, mode 0700). A re-deploy sends the hashes first;
// the agent links what the store holds into the new bundle, and only new
// content crosses the wire.
//
// The store is a cache, never a source of truth: a file's content is
// hashed again each time before it is used, so a file changed in the
// store by anyone, in place or by a full disk, is found, removed and sent
// again, never linked into a bundle. Its size is bounded: after files are
// added, the least recently used go first. A blob's access time is its
// last use, set by the store itself when it links or keeps it (a mount's
// noatime does not stop an explicit set).
package blobstore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
)

// Dir is the store, relative to the admin's home on the node.
const Dir = bundle.CacheDir + "/store"

// DefaultLimit is the size the store keeps to when the node's
// store_limit does not say.
const DefaultLimit = 1 << 30

// staleTmp is the age of a temporary file in the store that a crashed
// agent left, after which an eviction removes it.
const staleTmp = time.Hour

// Store is the store of one node's admin user.
type Store struct {
	dir string
	now func() time.Time
}

// Open returns the store in home, making it (and the cache directory it is
// in, mode 0700) when missing. A store path that is not a directory of
// this user's, such as a symbolic link, is refused.
func Open(home string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	dir := filepath.Join(home, Dir)
	if err := os.MkdirAll(filepath.Dir(filepath.Join(home, bundle.CacheDir)), bundle.Mode); err != nil {
		return nil, fmt.Errorf("make the store %s: %w", dir, err)
	}
	for _, d := range []string{filepath.Join(home, bundle.CacheDir), dir} {
		if err := os.Mkdir(d, bundle.Mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("make the store %s: %w", d, err)
		}
		fi, err := os.Lstat(d)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("the store %s is not a directory; remove it and run again", d)
		}
	}
	return &Store{dir: dir, now: now}, nil
}

// Path is the store's directory.
func (s *Store) Path() string { return s.dir }

// blob is the store's name of a content; an invalid hash has none.
func (s *Store) blob(hash string) (dir, name string, err error) {
	if len(hash) != sha256.Size*2 || strings.Trim(hash, "0123456789abcdef") != "" {
		return "", "", fmt.Errorf("%q is not a sha256 in lower-case hex", hash)
	}
	return filepath.Join(s.dir, hash[:2]), hash, nil
}

// Place puts each file into the bundle from the store, and says for each
// whether the bundle had it already (its size, mode and mtime), the store
// gave it (its content checked against the hash first), or it must be
// sent. A blob whose content does not match its name is removed. A place
// that fails for one file only leaves that one to be sent.
func (s *Store) Place(root *os.Root, files []channel.StoreFile) (placed []int8, corrupt int64) {
	placed = make([]int8, len(files))
	var bad atomic.Int64
	// Hashing is most of the work: as many files at once as there are
	// CPUs. Files of the same content go one after another, so that one's
	// link never takes the mode or mtime another set on the same blob.
	var groups [][]int
	byHash := map[string]int{}
	for i, f := range files {
		g, ok := byHash[f.SHA256]
		if !ok {
			g = len(groups)
			byHash[f.SHA256] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	next := make(chan []int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(groups)) {
		wg.Go(func() {
			for group := range next {
				for _, i := range group {
					state, corrupt := s.placeOne(root, files[i])
					placed[i] = state
					if corrupt {
						bad.Add(1)
					}
				}
			}
		})
	}
	for _, g := range groups {
		next <- g
	}
	close(next)
	wg.Wait()
	return placed, bad.Load()
}

// placeOne places f, unless the bundle has it already.
func (s *Store) placeOne(root *os.Root, f channel.StoreFile) (state int8, corrupt bool) {
	dir, err := openParent(root, f.Path)
	if err != nil {
		return channel.StoreMissing, false
	}
	defer dir.Close()
	base := path.Base(f.Path)
	if had(dir, base, f) {
		return channel.StoreHad, false
	}
	return s.place(dir, base, f)
}

// had reports whether the bundle's dir holds base with f's size, mode and
// mtime: rsync's quick check, as a copy over SFTP makes it.
func had(dir *os.File, base string, f channel.StoreFile) bool {
	var st unix.Stat_t
	if unix.Fstatat(int(dir.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == f.Size && st.Mode&0o7777 == f.Mode&0o7777 &&
		st.Mtim.Sec == f.MTime.Unix()
}

// place links (or copies) the blob of f into dir as base, after hashing
// it; bad says the blob did not match its name and was removed.
func (s *Store) place(dir *os.File, base string, f channel.StoreFile) (state int8, bad bool) {
	bdir, name, err := s.blob(f.SHA256)
	if err != nil {
		return channel.StoreMissing, false
	}
	b, err := os.OpenFile(filepath.Join(bdir, name), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return channel.StoreMissing, false
	}
	defer b.Close()
	// Another agent may place the same blob into its own bundle now: the
	// lock keeps its link count, mode and mtime from changing between this
	// one's look and its link (closing b lets go).
	if err := unix.Flock(int(b.Fd()), unix.LOCK_EX); err != nil {
		return channel.StoreMissing, false
	}
	var st unix.Stat_t
	if unix.Fstat(int(b.Fd()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != f.Size {
		os.Remove(filepath.Join(bdir, name))
		return channel.StoreMissing, true
	}
	if sum, err := hashFile(b); err != nil || sum != f.SHA256 {
		os.Remove(filepath.Join(bdir, name))
		return channel.StoreMissing, true
	}
	mode := f.Mode & 0o7777
	mtime := unix.NsecToTimespec(f.MTime.UnixNano())
	// A link shares the blob's mode and mtime: set them to the file's,
	// unless another bundle links the blob with its own; that one gets a
	// copy, so a run never changes a file of another bundle.
	if st.Nlink == 1 || st.Mode&0o7777 == mode && st.Mtim == mtime {
		if b.Chmod(fs.FileMode(mode)) == nil && s.touch(bdir, name, &mtime) == nil &&
			linkInto(bdir, name, dir, base, &st) == nil {
			return channel.StoreLinked, false
		}
	}
	if copyInto(b, dir, base, f) != nil {
		return channel.StoreMissing, false
	}
	s.touch(bdir, name, nil)
	return channel.StoreLinked, false
}

// setMtime gives name in dir mtime, to the nanosecond, as the workstation
// has it: a place compares mtimes at that precision.
func setMtime(dir *os.File, name string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	return unix.UtimesNanoAt(int(dir.Fd()), name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// touch marks the blob used now, and gives it mtime unless nil.
func (s *Store) touch(bdir, name string, mtime *unix.Timespec) error {
	ts := []unix.Timespec{unix.NsecToTimespec(s.now().UnixNano()), {Nsec: unix.UTIME_OMIT}}
	if mtime != nil {
		ts[1] = *mtime
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(bdir, name), ts, unix.AT_SYMLINK_NOFOLLOW)
}

// linkInto links from's name in fromDir (a real path) to base in dir,
// under a temporary name first, then checks the link is the inode want
// before it takes base's place.
func linkInto(fromDir, from string, dir *os.File, base string, want *unix.Stat_t) error {
	d, err := os.Open(fromDir)
	if err != nil {
		return err
	}
	defer d.Close()
	return link(d, from, dir, base, want)
}

// link links from in fromDir to name in toDir, replacing it, if the link
// is the inode want.
func link(fromDir *os.File, from string, toDir *os.File, name string, want *unix.Stat_t) error {
	tmp := tmpName()
	if err := unix.Linkat(int(fromDir.Fd()), from, int(toDir.Fd()), tmp, 0); err != nil {
		return err
	}
	var st unix.Stat_t
	err := unix.Fstatat(int(toDir.Fd()), tmp, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil && (st.Ino != want.Ino || st.Dev != want.Dev) {
		err = errors.New("the file changed while it was linked")
	}
	if err == nil {
		err = unix.Renameat(int(toDir.Fd()), tmp, int(toDir.Fd()), name)
	}
	if err != nil {
		unix.Unlinkat(int(toDir.Fd()), tmp, 0)
	}
	return err
}

// copyInto copies the open blob b into dir as base, with f's mode and
// mtime, through a temporary file that is hashed as it is written and
// fsynced, so what takes base's name is what f names.
func copyInto(b *os.File, dir *os.File, base string, f channel.StoreFile) error {
	if _, err := b.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tmp := tmpName()
	fd, err := unix.Openat(int(dir.Fd()), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(fd), tmp)
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), b)
	if err == nil && hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
		err = errors.New("the stored content changed while it was copied")
	}
	if err == nil {
		err = out.Chmod(fs.FileMode(f.Mode & 0o7777))
	}
	if err == nil {
		err = setMtime(dir, tmp, f.MTime)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(int(dir.Fd()), tmp, int(dir.Fd()), base)
	}
	if err != nil {
		unix.Unlinkat(int(dir.Fd()), tmp, 0)
	}
	return err
}

// adopt adds base in dir, a file of the bundle whose content was checked
// against f's hash (open as in, the inode st), to the store: a link, or
// where one cannot be made (another file system) a copy.
func (s *Store) adopt(in *os.File, st *unix.Stat_t, dir *os.File, base string, f channel.StoreFile) error {
	bdir, name, err := s.blob(f.SHA256)
	if err != nil {
		return err
	}
	if err := os.Mkdir(bdir, bundle.Mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	to, err := os.Open(bdir)
	if err != nil {
		return err
	}
	defer to.Close()
	if link(dir, base, to, name, st) != nil {
		if err := copyInto(in, to, name, f); err != nil {
			return err
		}
	}
	return s.touch(bdir, name, nil)
}

// Stats is what the store holds.
type Stats struct {
	Blobs, Bytes int64
	Oldest       time.Time // the least recent use
	Evicted      int64     // blobs an eviction removed
}

type entry struct {
	path string
	size int64
	used time.Time
}

// list walks the store's blobs, and removes temporary files a crashed
// agent left.
func (s *Store) list() ([]entry, error) {
	shards, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 {
			continue
		}
		d := filepath.Join(s.dir, sh.Name())
		names, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, n := range names {
			var st unix.Stat_t
			p := filepath.Join(d, n.Name())
			if unix.Lstat(p, &st) != nil {
				continue
			}
			used := time.Unix(st.Atim.Unix())
			if strings.HasPrefix(n.Name(), tmpPrefix) {
				if s.now().Sub(time.Unix(st.Mtim.Unix())) > staleTmp {
					os.Remove(p)
				}
				continue
			}
			out = append(out, entry{path: p, size: st.Size, used: used})
		}
	}
	return out, nil
}

// Evict removes the least recently used blobs until the store holds at
// most limit bytes. A bundle that links a removed blob keeps its file.
func (s *Store) Evict(limit int64) (Stats, error) {
	all, err := s.list()
	if err != nil {
		return Stats{}, err
	}
	slices.SortFunc(all, func(a, b entry) int { return a.used.Compare(b.used) })
	var st Stats
	for _, e := range all {
		st.Bytes += e.size
	}
	for len(all) > 0 && st.Bytes > limit {
		if err := os.Remove(all[0].path); err == nil || errors.Is(err, fs.ErrNotExist) {
			st.Bytes -= all[0].size
			st.Evicted++
		}
		all = all[1:]
	}
	st.Blobs = int64(len(all))
	if len(all) > 0 {
		st.Oldest = all[0].used
	}
	return st, nil
}

// Show says what the store holds.
func (s *Store) Show() (Stats, error) { return s.Evict(1<<63 - 1) }

// Holds says for each file whether the store has a blob of its name and
// size (StoreLinked) or not (StoreMissing), for a preview: it reads no
// content, so a place may still find a blob corrupt, and it uses none, so
// no blob's last use moves.
func (s *Store) Holds(files []channel.StoreFile) []int8 {
	held := make([]int8, len(files))
	for i, f := range files {
		dir, name, err := s.blob(f.SHA256)
		if err != nil {
			continue
		}
		if fi, err := os.Lstat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() && fi.Size() == f.Size {
			held[i] = channel.StoreLinked
		}
	}
	return held
}

// Prune empties the store; it says what it removed.
func (s *Store) Prune() (Stats, error) { return s.Evict(0) }

// makeDirs makes each directory in the bundle, and the missing parts of
// its path, with its mode; one there already keeps its own. A part that
// is a link may lead elsewhere in the bundle, never out of it.
func makeDirs(root *os.Root, dirs []channel.StoreDir) error {
	for _, d := range dirs {
		at := ""
		for _, part := range strings.Split(path.Clean(d.Path), "/") {
			at = path.Join(at, part)
			if fi, err := root.Stat(at); err == nil && fi.IsDir() {
				continue
			}
			err := root.Mkdir(at, fs.FileMode(d.Mode&0o7777))
			if err == nil {
				err = root.Chmod(at, fs.FileMode(d.Mode&0o7777))
			} else if fi, serr := root.Stat(at); serr == nil && fi.IsDir() {
				err = nil
			}
			if err != nil {
				return fmt.Errorf("create %s in the bundle: %w", at, throughLink(root, at, err))
			}
		}
	}
	return nil
}

// throughLink says which symbolic link on p's way leads out of the
// bundle, when one does: err is then why.
func throughLink(root *os.Root, p string, err error) error {
	at := ""
	for _, part := range strings.Split(path.Clean(p), "/") {
		at = path.Join(at, part)
		if fi, lerr := root.Lstat(at); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if _, serr := root.Stat(at); serr != nil {
				target, _ := root.Readlink(at)
				return fmt.Errorf("%s leads through a symlink to %s, outside the bundle; conc reaches only what is inside it", at, target)
			}
		}
	}
	return err
}

// openParent opens the directory of p in the bundle; root keeps it inside.
func openParent(root *os.Root, p string) (*os.File, error) {
	if p == "" || strings.HasSuffix(p, "/") || path.Base(p) == ".." || path.Base(p) == "." {
		return nil, fmt.Errorf("%q does not name a file", p)
	}
	return root.Open(path.Dir(p))
}

// hashFile is the sha256 of f's content from its start.
func hashFile(f *os.File) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// tmpPrefix starts the name of a file on its way into a bundle or the
// store.
const tmpPrefix = ".conc-tmp-"

func tmpName() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return tmpPrefix + hex.EncodeToString(b[:])
}
