package testnode

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// waitExit waits until process pid (not necessarily a child) has exited,
// for at most timeout. A pidfd becomes readable when its process exits.
func waitExit(pid int, timeout time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("poll pidfd of %d: %w", pid, err)
		case n == 0:
			return fmt.Errorf("pid %d still running after %v", pid, timeout)
		}
		return nil
	}
}
