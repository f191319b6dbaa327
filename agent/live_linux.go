package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// lockLive takes the write lock on f without waiting: errLive when another
// open file holds it.
func lockLive(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	err := fcntl(f, unix.F_OFD_SETLK, &lk)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return errLive
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return nil
}

// liveHeld reports whether another open file holds the write lock on f,
// without taking it. f may be open read-only.
func liveHeld(f *os.File) (bool, error) {
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

// holders lists the processes that hold the bundle's live lock, for
// unlock --force to stop. A holder is a process that has LiveFile open for
// writing; the record's agent pid is only where the search starts, since
// the record could be stale.
func holders(live string, hint int) ([]int, error) {
	target, err := os.Stat(live)
	if err != nil {
		return nil, err
	}
	pids := writersOf(target, hint)
	if len(pids) == 0 {
		return nil, fmt.Errorf("no process of this user on the node has %s open; the holder may run as another user", live)
	}
	return pids, nil
}

// writersOf lists the processes, other than this one, that have the file
// open for writing: the agent holding a live lock does, an agent only
// looking at the bundle does not.
func writersOf(target os.FileInfo, hint int) []int {
	if hint > 0 && hint != os.Getpid() && opensForWriting(hint, target) {
		return []int{hint}
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err == nil && pid != os.Getpid() && opensForWriting(pid, target) {
			out = append(out, pid)
		}
	}
	return out
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

func signal(pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		syscall.Kill(pid, sig)
	}
}
