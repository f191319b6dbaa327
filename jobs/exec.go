package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Command is a process to run: an argv, never a shell string. A shell runs
// only when Argv names one.
type Command struct {
	Argv  []string
	Dir   string
	Env   []string // added to the host's environment
	Stdin io.Reader
	// Stdout and Stderr default to the job's Output. When both are the
	// same writer the process gets one pipe for both, which keeps their
	// order.
	Stdout, Stderr io.Writer
	// Started, if set, is called with the process once it runs: sudo uses
	// it to wait for the password prompt.
	Started func(p *os.Process)
}

// waitDelay bounds how long Wait waits for output pipes after the process
// exits, when a background child still holds them open.
const waitDelay = 2 * time.Second

// Procs runs commands in process groups and remembers the groups, so that
// everything a host started can be killed when it shuts down.
type Procs struct {
	mu     sync.Mutex
	groups map[int]struct{}
}

// Exec runs c in a new process group. When ctx ends, the whole group is
// killed. It returns the exit code, -1 when the process did not exit by
// itself, and an error when it could not be started or was killed.
func (p *Procs) Exec(ctx context.Context, c Command) (int, error) {
	if len(c.Argv) == 0 {
		return -1, errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("start %s: %w", c.Argv[0], err)
	}
	pgid := cmd.Process.Pid
	p.track(pgid, true)
	if c.Started != nil {
		c.Started(cmd.Process)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		// The process may have gone, but children it left in the group
		// have not; a timeout or cancel means all of them.
		killGroup(pgid)
		p.track(pgid, false)
		return -1, fmt.Errorf("%s: %w", c.Argv[0], context.Cause(ctx))
	}
	if cmd.ProcessState == nil {
		return -1, fmt.Errorf("wait for %s: %w", c.Argv[0], err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, fmt.Errorf("%s: killed by signal %s", c.Argv[0], ws.Signal())
	}
	return cmd.ProcessState.ExitCode(), nil
}

func (p *Procs) track(pgid int, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.groups == nil {
		p.groups = map[int]struct{}{}
	}
	if add {
		p.groups[pgid] = struct{}{}
	} else {
		delete(p.groups, pgid)
	}
}

// KillAll kills every process group Exec started that may still have
// members: what a job left running in the background dies with its host.
func (p *Procs) KillAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pgid := range p.groups {
		killGroup(pgid)
		delete(p.groups, pgid)
	}
}

func killGroup(pgid int) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// PeakRSSKB is this process's peak resident memory in KiB, from VmHWM in
// /proc/self/status. getrusage's ru_maxrss would not do: it keeps the
// high-water mark of the process that exec'd this one.
func PeakRSSKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// ExitResult turns a command's exit into a job result: OK on 0, FAILED with
// the exit code otherwise.
func ExitResult(code int, err error) Result {
	switch {
	case err != nil:
		return Result{Status: Failed, Message: err.Error(), ExitCode: code}
	case code != 0:
		return Result{Status: Failed, Message: fmt.Sprintf("exit status %d", code), ExitCode: code}
	}
	return Result{Status: OK}
}
