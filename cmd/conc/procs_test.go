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

// requireFuse skips a test that mounts when this machine cannot, except in
// CI, where .ci/run installs sshfs and a skip would hide a broken install.
func requireFuse(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"sshfs", "fusermount3"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err2 := exec.LookPath("fusermount"); tool == "fusermount3" && err2 == nil {
				continue
			}
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		missing = append(missing, "/dev/fuse")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing %v; .ci/run must install sshfs", missing)
	}
	t.Skipf("missing %v", missing)
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
