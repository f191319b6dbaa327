package sshtest

import (
	"errors"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// TestCloseKillsCommands checks that Close kills running commands and their
// process group, and returns.
func TestCloseKillsCommands(t *testing.T) {
	f := newFixture(t, nil)
	sess, _, stdout := newSession(t, f.dial(t))
	if err := sess.Start(`sleep 1000 & echo $!; echo $$; exec cat`); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for range 2 {
		pid, err := strconv.Atoi(readLine(t, stdout))
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	within(t, "Close", func() {
		if err := f.srv.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, pid := range pids {
		waitDead(t, pid)
	}
	var err error
	within(t, "session to end", func() { err = sess.Wait() })
	if err == nil {
		t.Error("session ended cleanly, want an error")
	}
	if _, err := ssh.Dial("tcp", f.srv.Addr().String(), f.clientConfig(f.user, f.client.Signer)); err == nil {
		t.Error("dial after Close succeeded")
	}
}

// waitDead waits (bounded) for pid to exit, with a pidfd, which becomes
// readable when the process exits, zombie or not. The command's leader is
// reaped by Close; other group members die asynchronously after SIGKILL.
func waitDead(tb testing.TB, pid int) {
	tb.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		tb.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(waitTimeout.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			tb.Fatalf("poll pidfd of %d: %v", pid, err)
		}
		if n == 0 {
			tb.Errorf("pid %d survived Close", pid)
		}
		return
	}
}
