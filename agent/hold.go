package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"encoding/json"
	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/internal/livelock"
	"github.com/concdeploy/conc/jobs"
)

// Why the agent cannot take, or keep, a bundle.
var (
	// errLive is returned when another live agent holds the bundle's
	// kernel lock.
	errLive = livelock.ErrHeld
	// errNotBundle is returned when the bundle's path names something
	// other than a directory: a symbolic link, a file.
	errNotBundle = errors.New("the bundle's path is not a directory")
)

// hold is an agent's hold on a bundle. It has the bundle open by identity
// (a directory handle, and the device and inode it was taken with) and
// holds an open file description lock on the bundle's LiveFile. The kernel
// drops that lock when the agent dies, however it dies, so a live lock
// means a live holder, and two agents cannot hold one bundle at once.
type hold struct {
	path string      // the bundle's absolute path
	root *os.Root    // the bundle: every file the agent writes in it goes through here
	id   fs.FileInfo // the directory as it was taken, for os.SameFile
	live *os.File    // LiveFile, locked
	once sync.Once   // release
}

// createBundle makes the bundle with one atomic mkdir, the node's lock, and
// takes hold of it. It returns an fs.ErrExist error when the bundle exists.
func createBundle(path string) (*hold, error) {
	if err := os.Mkdir(path, bundle.Mode); err != nil {
		return nil, err
	}
	h, err := holdBundle(path)
	if err != nil {
		// Only a hand that removed or replaced the directory within
		// microseconds gets here; what is at the path now is not ours.
		return nil, fmt.Errorf("take hold of the bundle just created: %w", err)
	}
	return h, nil
}

// holdBundle takes hold of an existing bundle without waiting: errLive
// when another agent holds it.
func holdBundle(path string) (*hold, error) {
	root, id, err := openBundleDir(path)
	if err != nil {
		return nil, err
	}
	live, err := root.OpenFile(bundle.LiveFile, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("open %s: %w", bundle.LiveFile, err)
	}
	if err := livelock.Lock(live); err != nil {
		live.Close()
		root.Close()
		return nil, err
	}
	h := &hold{path: path, root: root, id: id, live: live}
	// The path may have been pointed elsewhere between opening and
	// locking: hold only what is still the bundle.
	if err := h.check(); err != nil {
		h.release()
		return nil, err
	}
	return h, nil
}

// openBundleDir opens the directory at path and returns it with its
// identity. A symbolic link at the path is refused: the bundle is removed
// recursively, and must be the directory the path names.
func openBundleDir(path string) (*os.Root, fs.FileInfo, error) {
	at, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	if !at.IsDir() {
		return nil, nil, fmt.Errorf("%w: %s is a %s", errNotBundle, path, kind(at.Mode()))
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, nil, err
	}
	id, err := root.Stat(".")
	if err != nil || !os.SameFile(id, at) {
		root.Close()
		return nil, nil, fmt.Errorf("%w: %s changed while it was opened", jobs.ErrBundleLost, path)
	}
	return root, id, nil
}

// realParents checks that the directories leading to the bundle, rel
// below home, are real directories or missing, never symbolic links: a
// link there would put the bundle, and what is removed with it, outside
// the home.
func realParents(home, rel string) error {
	p := home
	parts := strings.Split(filepath.ToSlash(filepath.Clean(rel)), "/")
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: its parent %s is a symbolic link; set bundle to a path through real directories", errNotBundle, p)
		case !fi.IsDir():
			return fmt.Errorf("%w: its parent %s is a %s", errNotBundle, p, kind(fi.Mode()))
		}
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}

// check is the fence: it fails, wrapping jobs.ErrBundleLost, unless the
// directory at the bundle's path is still the one this hold took. The
// agent checks before every job and every write to the record or journal.
func (h *hold) check() error {
	at, err := os.Lstat(h.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s is gone (conc unlock, or removed by hand)", jobs.ErrBundleLost, h.path)
	case err != nil:
		return fmt.Errorf("%w: %v", jobs.ErrBundleLost, err)
	case !os.SameFile(at, h.id):
		return fmt.Errorf("%w: %s is another directory now (conc unlock and another deploy, or replaced by hand)", jobs.ErrBundleLost, h.path)
	}
	return nil
}

// remove removes the bundle, and only this hold's: it renames the bundle
// aside, which frees the path at once, checks that what it moved is its
// own, and removes that. The lock file, record and journal go last, so a
// removal that fails part way (a file a sudo job left, owned by root)
// leaves a bundle that still says who holds it; it goes back to its path,
// still held, for the operator to look at, unless something took the path
// meanwhile, in which case it stays aside and the error names it.
func (h *hold) remove() error {
	if err := h.check(); err != nil {
		return err
	}
	aside := asideName(h.path, "closing")
	if err := os.Rename(h.path, aside); err != nil {
		return fmt.Errorf("move %s aside: %w", h.path, err)
	}
	if at, err := os.Lstat(aside); err != nil || !os.SameFile(at, h.id) {
		putBack(aside, h.path)
		return fmt.Errorf("%w: %s changed while it was being removed", jobs.ErrBundleLost, h.path)
	}
	if err := removeContents(aside); err != nil {
		if perr := putBack(aside, h.path); perr != nil {
			return fmt.Errorf("remove %s: %w; it is left at %s", h.path, err, aside)
		}
		return fmt.Errorf("remove %s: %w", h.path, err)
	}
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("remove %s (moved aside to %s): %w", h.path, aside, err)
	}
	return nil
}

// control are the bundle's own files, removed after everything else.
var control = map[string]bool{bundle.LiveFile: true, bundle.LockFile: true, bundle.JournalFile: true, bundle.AgentLink: true, bundle.RunningFile: true}

// removeContents removes what a run put into the bundle at dir, and
// leaves the control files.
func removeContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if control[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// putBack renames a bundle moved aside back to its path, unless the path
// has been taken since: rename(2) would silently replace an empty
// directory that another deploy's mkdir just made.
func putBack(aside, path string) error {
	return livelock.RenameNoReplace(aside, path)
}

// asideName is a name next to path, in the same directory so that a
// rename to it is atomic, that no other bundle or run uses.
func asideName(path, why string) string {
	return filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.%s-%d-%s", filepath.Base(path), why, os.Getpid(), randHex(4)))
}

// release lets go of the bundle: the kernel lock first, then the handle.
// It may be called more than once.
func (h *hold) release() {
	h.once.Do(func() {
		h.live.Close()
		h.root.Close()
	})
}

// view is what a bundle looks like from outside, without holding it.
type view struct {
	locked  bool            // something is at the bundle's path
	live    bool            // a live agent holds it
	rec     *bundle.Lock    // its record with the journal; nil when it has none
	running *bundle.Running // the job its live holder has run for a while
	err     error           // why the record could not be read, or what the path is
}

// look reads a bundle without taking its lock, so it never stands in the
// way of an attach or an unlock.
func look(path string) view {
	root, _, err := openBundleDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return view{}
	}
	if err != nil {
		return view{locked: true, err: err}
	}
	defer root.Close()
	v := view{locked: true}
	if f, err := root.OpenFile(bundle.LiveFile, os.O_RDONLY|syscall.O_NOFOLLOW, 0); err == nil {
		v.live, v.err = livelock.Held(f)
		f.Close()
	}
	if b, err := readSmall(root, bundle.RunningFile); err == nil && v.live {
		var r bundle.Running
		if json.Unmarshal(b, &r) == nil {
			v.running = &r
		}
	}
	rec, err := readRecord(root)
	v.rec = rec // kept when only the journal could not be read
	if err != nil && !errors.Is(err, fs.ErrNotExist) && v.err == nil {
		v.err = err
	}
	return v
}

// matches reports whether rec is the record e names; a bundle without a
// record matches an empty expectation.
func matches(rec *bundle.Lock, deployID, session string) bool {
	if rec == nil {
		return deployID == "" && session == ""
	}
	return rec.DeployID == deployID && rec.Session == session
}

// holdWithin takes hold of the bundle, retrying while a live agent holds
// it, for up to d: an unlock --force waits so for the holder it stopped.
func holdWithin(path string, d time.Duration) (*hold, error) {
	deadline := time.Now().Add(d)
	for {
		h, err := holdBundle(path)
		if !errors.Is(err, errLive) || time.Now().After(deadline) {
			return h, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
