package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/concdeploy/conc/channel"
)

// Session is one agent's side of the store: it answers the store requests
// of its channel, and holds the files a copy is sending until each is
// whole.
type Session struct {
	mu       sync.Mutex // the agent's reader serves, its Serve's end closes
	home     string
	now      func() time.Time
	incoming map[string]*incoming // by path in the bundle
	closed   bool                 // the agent's session is over: nothing more is written
}

// flushEvery is how much of a file being sent is written before it is
// handed to writeback (sync_file_range, which does not wait): the fsync
// at the file's end then waits for its last few MiB, not for all of it
// (one 256 MiB file: 85 ms of fsync, then 4 ms).
const flushEvery = 8 << 20

// maxIncoming bounds the files being sent at once; a copy sends one after
// another.
const maxIncoming = 16

// NewSession is the store of the admin whose home is home.
func NewSession(home string, now func() time.Time) *Session {
	return &Session{home: home, now: now, incoming: map[string]*incoming{}}
}

// Close removes what a copy left half sent.
func (ss *Session) Close() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.closed = true
	for p, w := range ss.incoming {
		w.abort()
		delete(ss.incoming, p)
	}
}

// Serve does what a store request asks, in the bundle root (nil when the
// agent holds none: then only show and prune may be asked).
func (ss *Session) Serve(root *os.Root, q *channel.Store) (*channel.StoreAnswer, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case ss.closed:
		return nil, errors.New("the agent's session is over")
	case len(q.Dirs) > channel.MaxStoreFiles:
		return nil, fmt.Errorf("a store request names %d directories, more than %d", len(q.Dirs), channel.MaxStoreFiles)
	case q.Do != channel.StoreShow && q.Do != channel.StorePrune && root == nil:
		return nil, errors.New("this agent holds no bundle to place files in")
	case len(q.Files) > channel.MaxStoreFiles:
		return nil, fmt.Errorf("a store request names %d files, more than %d", len(q.Files), channel.MaxStoreFiles)
	case q.Do == channel.StoreWrite && (len(q.Files) != 1 || len(q.Data) > channel.MaxStoreChunk):
		return nil, errors.New("a write carries one file's chunk of at most 1 MiB")
	}
	if q.Do == channel.StoreShow && len(q.Files) > 0 {
		// A preview's question, which changes nothing: not even the
		// store's directory is made.
		s := &Store{dir: filepath.Join(ss.home, Dir), now: ss.now}
		return &channel.StoreAnswer{Dir: s.Path(), Placed: s.Holds(q.Files)}, nil
	}
	s, err := Open(ss.home, ss.now)
	if err != nil {
		return nil, err
	}
	ans := &channel.StoreAnswer{Dir: s.Path()}
	var st Stats
	switch q.Do {
	case channel.StorePlace:
		if err := makeDirs(root, q.Dirs); err != nil {
			return nil, err
		}
		ans.Placed, ans.Corrupt = s.Place(root, q.Files)
		var fs unix.Statfs_t
		if d, err := root.Open("."); err == nil {
			if unix.Fstatfs(int(d.Fd()), &fs) == nil {
				free := int64(fs.Bavail) * int64(fs.Bsize)
				ans.Free = &free
			}
			d.Close()
		}
		return ans, nil
	case channel.StoreWrite:
		return ans, ss.write(s, root, q.Files[0], q.Offset, q.Data)
	case channel.StoreKeep:
		if len(q.Files) > 0 {
			return nil, errors.New("keep takes no files: written files join the store as they arrive")
		}
		limit := q.Limit
		if limit <= 0 {
			limit = DefaultLimit
		}
		st, err = s.Evict(limit)
	case channel.StoreShow:
		st, err = s.Show()
	case channel.StorePrune:
		st, err = s.Prune()
	default:
		return nil, fmt.Errorf("%w: store request %q", channel.ErrUnexpected, q.Do)
	}
	if err != nil {
		return nil, err
	}
	ans.Blobs, ans.Bytes, ans.Evicted, ans.Oldest = st.Blobs, st.Bytes, st.Evicted, st.Oldest
	return ans, nil
}

// incoming is a file on its way into the bundle: a temporary file in its
// directory, hashed as it is written.
type incoming struct {
	f   channel.StoreFile
	dir *os.File
	tmp string
	out *os.File
	h   *hasher
	n   int64
	// flushed is how far the file has been handed to writeback: a large
	// file's fsync at its end then waits for little.
	flushed int64
}

// hasher hashes a file's chunks on a goroutine of its own, beside the
// writes: a large file's hash then costs the agent's reader nothing.
type hasher struct {
	chunks chan []byte
	sum    chan string
	once   sync.Once
	got    string
}

func newHasher() *hasher {
	h := &hasher{chunks: make(chan []byte, 16), sum: make(chan string, 1)}
	go func() {
		d := sha256.New()
		for c := range h.chunks {
			d.Write(c)
		}
		h.sum <- hex.EncodeToString(d.Sum(nil))
	}()
	return h
}

// Sum ends the hashing and returns the sha256 of every chunk written.
func (h *hasher) Sum() string {
	h.once.Do(func() {
		close(h.chunks)
		h.got = <-h.sum
	})
	return h.got
}

func (w *incoming) abort() {
	w.h.Sum()
	w.out.Close()
	unix.Unlinkat(int(w.dir.Fd()), w.tmp, 0)
	w.dir.Close()
}

// write takes a chunk of f at off. Chunks come in order; the first makes
// the temporary file. Once f is whole and its content matches its hash,
// it takes its name in the bundle, with its mode and mtime, and joins the
// store.
func (ss *Session) write(s *Store, root *os.Root, f channel.StoreFile, off int64, data []byte) error {
	w := ss.incoming[f.Path]
	if off == 0 {
		if w != nil {
			w.abort()
			delete(ss.incoming, f.Path)
		}
		var err error
		if w, err = ss.create(s, root, f); err != nil {
			return fmt.Errorf("write %s in the bundle: %w", f.Path, err)
		}
	}
	if w == nil || off != w.n || w.f.SHA256 != f.SHA256 || w.f.Size != f.Size || w.n+int64(len(data)) > f.Size {
		if w != nil {
			w.abort()
			delete(ss.incoming, f.Path)
		}
		return fmt.Errorf("%w: a chunk of %s at %d that does not follow the one before", channel.ErrUnexpected, f.Path, off)
	}
	if _, err := w.out.Write(data); err != nil {
		w.abort()
		delete(ss.incoming, f.Path)
		return fmt.Errorf("write %s in the bundle: %w", f.Path, err)
	}
	w.h.chunks <- data // each message's data is its own: never reused
	w.n += int64(len(data))
	if w.n-w.flushed >= flushEvery {
		unix.SyncFileRange(int(w.out.Fd()), w.flushed, w.n-w.flushed, unix.SYNC_FILE_RANGE_WRITE)
		w.flushed = w.n
	}
	if w.n < f.Size {
		return nil
	}
	delete(ss.incoming, f.Path)
	if err := ss.finish(s, w); err != nil {
		w.abort()
		return fmt.Errorf("write %s in the bundle: %w", f.Path, err)
	}
	w.out.Close()
	w.dir.Close()
	return nil
}

func (ss *Session) create(s *Store, root *os.Root, f channel.StoreFile) (*incoming, error) {
	if len(ss.incoming) >= maxIncoming {
		return nil, fmt.Errorf("more than %d files are being sent at once", maxIncoming)
	}
	if _, _, err := s.blob(f.SHA256); err != nil {
		return nil, err
	}
	if f.Size < 0 {
		return nil, fmt.Errorf("a size of %d", f.Size)
	}
	dir, err := openParent(root, f.Path)
	if err != nil {
		return nil, throughLink(root, f.Path, err)
	}
	tmp := tmpName()
	fd, err := unix.Openat(int(dir.Fd()), tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		dir.Close()
		return nil, err
	}
	w := &incoming{f: f, dir: dir, tmp: tmp, out: os.NewFile(uintptr(fd), tmp), h: newHasher()}
	ss.incoming[f.Path] = w
	return w, nil
}

// finish checks a whole file against its hash, gives it its mode and
// mtime, puts it on disk and in its place, and adds it to the store.
func (ss *Session) finish(s *Store, w *incoming) error {
	if w.h.Sum() != w.f.SHA256 {
		return errors.New("its content arrived changed: it does not match its sha256")
	}
	fd := int(w.out.Fd())
	err := w.out.Chmod(os.FileMode(w.f.Mode & 0o7777))
	if err == nil {
		err = setMtime(w.dir, w.tmp, w.f.MTime)
	}
	if err == nil {
		err = w.out.Sync()
	}
	var st unix.Stat_t
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	base := path.Base(w.f.Path)
	if err == nil {
		err = unix.Renameat(int(w.dir.Fd()), w.tmp, int(w.dir.Fd()), base)
	}
	if err != nil {
		return err
	}
	// The bundle has the file now; should the store not take it, only
	// the next copy misses it.
	s.adopt(w.out, &st, w.dir, base, w.f)
	return nil
}
