// Package durable writes the files conc must find again after a crash,
// of the process or of the machine: the lock record, the journals, the
// local state. A whole file is written to a temporary name, fsynced,
// renamed over the old one, and its directory fsynced (google/renameio
// does the first three), so it holds the old contents or the new, never a
// part. A journal is appended to instead, and fsynced in the background.
package durable

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/renameio/v2"
)

// WriteFile writes data to path, atomically and durably, with perm.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	if err := renameio.WriteFile(path, data, perm, renameio.WithStaticPermissions(perm)); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// WriteFileIn is WriteFile for the file name of root: the agent writes in
// the bundle it holds only through the bundle's handle. It does by hand
// what renameio does, so that the agent, whose binary has a size budget,
// does not link renameio.
func WriteFileIn(root *os.Root, name string, data []byte, perm fs.FileMode) error {
	tmp := fmt.Sprintf("%s.tmp-%d-%d", name, os.Getpid(), time.Now().UnixNano())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
		return err
	}
	d, err := root.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// SyncDir fsyncs the directory dir, so that a rename in it survives a
// crash of the machine.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// SyncEvery is how long a line appended to a journal may wait for its
// fsync. An fsync takes about as long as a job's round trip on a local
// link, so each line does not wait for its own: a crash of the machine
// loses at most the lines of this last moment, and a resume runs those
// jobs again; a crash of the process loses nothing written.
const SyncEvery = 50 * time.Millisecond

// Appender is a file appended to and fsynced in the background, at most
// SyncEvery after a write, and at Close.
type Appender struct {
	f *os.File

	mu     sync.Mutex
	dirty  bool
	err    error // the first failure, kept: a later fsync may claim success for data it lost
	closed bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewAppender takes over f, open for appending.
func NewAppender(f *os.File) *Appender {
	a := &Appender{f: f, stop: make(chan struct{})}
	a.wg.Add(1)
	go a.loop()
	return a
}

func (a *Appender) loop() {
	defer a.wg.Done()
	t := time.NewTicker(SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.Sync()
		}
	}
}

// Write appends p with one write(2). After a failed write or fsync, it
// fails with that first error.
func (a *Appender) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return 0, a.err
	}
	a.dirty = true
	n, err := a.f.Write(p)
	if err != nil {
		a.err = err
	}
	return n, err
}

// Sync fsyncs what was written, if anything was since the last time, and
// returns the first error the file has had.
func (a *Appender) Sync() error {
	a.mu.Lock()
	if !a.dirty || a.err != nil || a.closed {
		err := a.err
		a.mu.Unlock()
		return err
	}
	a.dirty = false
	a.mu.Unlock()
	// Outside the lock: a write need not wait for an fsync; what it
	// writes meanwhile is the next one's.
	err := a.f.Sync()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil && a.err == nil {
		a.err = err
	}
	return a.err
}

// Close stops the background fsync, fsyncs what is left and closes the
// file. It returns the first error the file has had; a second Close does
// nothing.
func (a *Appender) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return a.err
	}
	a.mu.Unlock()
	close(a.stop)
	a.wg.Wait()
	err := a.Sync()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	return err
}
