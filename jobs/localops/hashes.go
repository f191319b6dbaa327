package localops

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/concdeploy/conc/jobs"
)

// sums remembers the sha256 of the local files that copies send, by path,
// for as long as the file stays the same file with the same content as
// far as its inode says (device, inode, size, mtime and ctime, which no
// write leaves as it was): a run hashes each file once, however many nodes
// it goes to, and can hash it while it connects (Prefetch).
var sums = struct {
	mu sync.Mutex
	m  map[string]*fileSum
}{m: map[string]*fileSum{}}

// hashing bounds the files hashed at once to the CPUs.
var hashing = make(chan struct{}, runtime.GOMAXPROCS(0))

type fileID struct {
	dev, ino           uint64
	size, mtime, ctime int64
}

type fileSum struct {
	id   fileID
	done chan struct{}
	sum  string
	err  error
	racy bool // changed too close to its hash for its ctime to tell a later change
}

// racyWindow is how close to its hash a file's last change must be for
// the hash not to be remembered: a file system's clock ticks coarsely, so
// a change in the same tick may leave ctime as it was (git's "racy" index
// entries). Such a file is hashed again each time.
const racyWindow = time.Second

func identify(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, nil
}

// sha256Of returns the sha256 of the file at path and what it was, from
// what an earlier hash of the same file remembers when it still holds.
func sha256Of(path string) (string, fileID, error) {
	id, err := identify(path)
	if err != nil {
		return "", id, err
	}
	sums.mu.Lock()
	s := sums.m[path]
	if s == nil || s.id != id || s.racy {
		s = &fileSum{id: id, done: make(chan struct{}), racy: time.Since(time.Unix(0, max(id.ctime, id.mtime))) < racyWindow}
		sums.m[path] = s
		sums.mu.Unlock()
		s.sum, s.err = hashFile(path)
		if s.err != nil {
			sums.mu.Lock()
			delete(sums.m, path)
			sums.mu.Unlock()
		}
		close(s.done)
	} else {
		sums.mu.Unlock()
		<-s.done
	}
	return s.sum, id, s.err
}

func hashFile(path string) (string, error) {
	hashing <- struct{}{}
	defer func() { <-hashing }()
	in, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer in.Close()
	h := sha256.New()
	if _, err := io.Copy(h, in); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Prefetch starts hashing, in the background, the files a copy action
// would send from dir, so that a run has their hashes by the time it
// copies: over a slow link, while it connects. Other actions are left
// alone, as is a copy whose globs match nothing yet.
func Prefetch(a jobs.Action, dir string) {
	c, ok := a.(copyAction)
	if !ok {
		return
	}
	go func() {
		matches, res := jobs.ExpandGlobs(dir, c.globs)
		if res != nil {
			return
		}
		_, files, _, err := c.plan(matches)
		if err != nil {
			return
		}
		var g errgroup.Group
		g.SetLimit(cap(hashing))
		for _, f := range files {
			g.Go(func() error {
				sha256Of(f.src)
				return nil
			})
		}
		g.Wait()
	}()
}
