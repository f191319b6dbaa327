package agent

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/nodeops"
	"github.com/concdeploy/conc/nodetest"
	"github.com/rs/zerolog"
)

// letGo waits, bounded, until nothing holds the live lock of the bundle at
// dir, and returns what the bundle then looks like. An agent that has
// returned from Serve has closed its descriptor; for a moment a copy of it
// may still be open in a child the test binary is forking for a parallel
// test (forksSettled narrows that window, and a transient holder was still
// seen under load). A real agent has a process of its own, which exits.
func letGo(dir string) view {
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := look(dir)
		if !v.live || time.Now().After(deadline) {
			return v
		}
		time.Sleep(time.Millisecond)
	}
}

// forksSettled returns once no fork that began before it is between fork
// and exec. The agents of these tests share one process with the jobs of
// tests running in parallel, and a child forked while an agent lets go of
// its bundle holds a copy of the LiveFile's descriptor, and so its lock,
// until it execs (the descriptor is close-on-exec). A real agent has a
// process of its own, and dies or exits after letting go. Go forks with
// syscall.ForkLock held for writing, until the child has exec'd.
func forksSettled() {
	syscall.ForkLock.RLock()
	//lint:ignore SA2001 taking the lock is the wait: it returns once no fork holds it
	syscall.ForkLock.RUnlock()
}

// waitForFile waits, bounded, for a job to write a file: the job's own
// progress, not the clock, orders the test.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return
		}
	}
	t.Fatalf("%s was not written", path)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, _ := os.ReadFile(path)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// processGone checks, for a few seconds, that pid has exited.
func processGone(pid int) error {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(b), ") Z ") {
			return nil
		}
	}
	return fmt.Errorf("process %d is still alive", pid)
}

// testOps are the ops the agent on a node runs.
var testOps = jobs.MustCatalogue(nodeops.Ops(), []jobs.Op{nodetest.Op()})

// testOptions are an agent's options for a test: its home is home, so
// that tests need not share $HOME and can run in parallel.
func testOptions(home string) Options {
	exe, _ := os.Executable()
	return Options{Ops: testOps, Home: home, Exe: exe, PID: os.Getpid(), Now: time.Now, Log: zerolog.Nop()}
}
