package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitPid waits for a remote job to write its pid, failing early if the
// run ends first. The job's own write orders the test; the bound only
// keeps a broken run from hanging it.
func waitPid(t *testing.T, path string, done <-chan result) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		select {
		case r := <-done:
			t.Fatalf("the run ended before its job started: %s", r)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("%s was not written", path)
	return 0
}

// processGone checks, for a few seconds, that pid has exited. A zombie
// counts as gone: this sandbox's init does not reap orphans.
func processGone(pid int) error {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return nil
		}
	}
	return fmt.Errorf("process %d is still alive", pid)
}

// requireFuse skips a test that mounts when this machine cannot. In CI,
// where .ci/run installs sshfs, a missing sshfs or fusermount fails the test
// instead: a skip would hide a broken install. A /dev/fuse that is missing
// or closed to this user is the machine's, not an install step's, and skips
// everywhere, saying so.
func requireFuse(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := exec.LookPath("sshfs"); err != nil {
		missing = append(missing, "sshfs")
	}
	_, err3 := exec.LookPath("fusermount3")
	_, err2 := exec.LookPath("fusermount")
	if err3 != nil && err2 != nil {
		missing = append(missing, "fusermount")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("missing %v; .ci/run must install sshfs", missing)
		}
		t.Skipf("missing %v", missing)
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("this machine cannot mount FUSE file systems: %v", err)
	}
	f.Close()
}

func runCmd(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
