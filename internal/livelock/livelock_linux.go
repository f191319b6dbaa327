//go:build linux

package livelock

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The live lock is an open file description (OFD) lock on the whole of
// LiveFile. Unlike flock, it can be tested without being taken (F_OFD_GETLK),
// so conc status never stands in the way of an attach; unlike classic POSIX
// locks, it belongs to the open file, not the process, so it conflicts
// between two opens in one process too, and closing some other descriptor
// of the file does not drop it. The file is opened close-on-exec, so a job
// the agent starts never inherits it: the lock lives exactly as long as the
// agent.

// Lock takes the write lock on f without waiting: ErrHeld when another
// open file holds it.
func Lock(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	err := fcntl(f, unix.F_OFD_SETLK, &lk)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return ErrHeld
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return nil
}

// Held reports whether another open file holds the write lock on f,
// without taking it. f may be open read-only.
func Held(f *os.File) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if err := fcntl(f, unix.F_OFD_GETLK, &lk); err != nil {
		return false, fmt.Errorf("test the lock on %s: %w", f.Name(), err)
	}
	return lk.Type != unix.F_UNLCK, nil
}

func fcntl(f *os.File, cmd int, lk *unix.Flock_t) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = unix.FcntlFlock(fd, cmd, lk) }); err != nil {
		return err
	}
	return lerr
}

// RenameNoReplace renames old to new unless new exists (renameat2 with
// RENAME_NOREPLACE); where the file system cannot promise that, it does
// not rename.
func RenameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// HeldBy reports whether the process pid has the live file open for
// writing, as the agent that holds its lock does; an agent only looking at
// the bundle has it open read-only.
func HeldBy(live string, pid int) bool {
	target, err := os.Stat(live)
	return err == nil && pid > 0 && pid != os.Getpid() && opensForWriting(pid, target)
}

func opensForWriting(pid int, target os.FileInfo) bool {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		fi, err := os.Stat(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil || !os.SameFile(fi, target) {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err == nil && writable(string(info)) {
			return true
		}
	}
	return false
}

// writable reads the flags line of a /proc fdinfo file, in octal.
func writable(fdinfo string) bool {
	for line := range strings.Lines(fdinfo) {
		v, ok := strings.CutPrefix(line, "flags:")
		if !ok {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
		return err == nil && flags&syscall.O_ACCMODE != syscall.O_RDONLY
	}
	return false
}
