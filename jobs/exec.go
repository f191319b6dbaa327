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
	"sync/atomic"
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

// Procs runs commands in process groups and remembers the groups of the
// commands still running, so that everything a host runs can be killed
// when it shuts down.
//
// A group is remembered from its leader's start until the leader has
// exited, and forgotten before the leader is reaped. On Linux, Exec waits
// for the exit without reaping (awaitExit), so while Procs may signal a
// group its leader is at worst a zombie, whose pid, and so the group's
// number, the kernel gives to no other process. A group whose leader was
// reaped is never signalled: an unrelated process may have reused its
// number.
type Procs struct {
	mu     sync.Mutex
	groups map[int]struct{} // the pgids of the commands still running
}

// Exec runs c in a new process group. When ctx ends, the whole group is
// killed. It returns the exit code, -1 when the process did not exit by
// itself, and an error when it could not be started or was killed.
//
// In a process that contains its jobs (Contain), every process the command
// started is gone when Exec returns, however the command ended: its group
// is killed, and so is every orphan re-parented to this process since the
// command began, with its own group.
func (p *Procs) Exec(ctx context.Context, c Command) (int, error) {
	if len(c.Argv) == 0 {
		return -1, errors.New("empty command")
	}
	cmd := p.command(ctx, c)
	since, err := p.start(cmd)
	if err != nil {
		return -1, fmt.Errorf("start %s: %w", c.Argv[0], err)
	}
	if c.Started != nil {
		c.Started(cmd.Process)
	}
	err = p.wait(ctx, cmd, since)
	if ctx.Err() != nil {
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

// command builds c's process, the leader of a new group that ctx's end
// kills, through Procs so that a group it forgot is never signalled.
func (p *Procs) command(ctx context.Context, c Command) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return p.signal(cmd.Process.Pid) }
	cmd.WaitDelay = waitDelay
	return cmd
}

// start starts cmd and remembers its group, as one step under p.mu: a
// cancel that comes at once waits for the group to be known. The process
// is also one of this process's own children from before it exists, so
// that the reaper never takes it for an orphan. It returns the leader's
// start time, from which the command's orphans are told apart.
func (p *Procs) start(cmd *exec.Cmd) (since uint64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	own.Lock()
	defer own.Unlock()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	own.pids[pid]++
	if p.groups == nil {
		p.groups = map[int]struct{}{}
	}
	p.groups[pid] = struct{}{}
	return startTime(pid), nil
}

// wait waits for cmd and reaps it. Where the leader's exit can be awaited
// without reaping it, the group is forgotten and then, if the command's
// context ended or this process contains its jobs, killed with what it
// left behind, all while the pgid is still the leader's. Elsewhere the
// group is forgotten once reaped, and only a cancel kills it.
func (p *Procs) wait(ctx context.Context, cmd *exec.Cmd, since uint64) error {
	pgid := cmd.Process.Pid
	defer ownReaped(pgid)
	if !awaitExit(pgid) {
		err := cmd.Wait()
		p.forget(pgid)
		return err
	}
	p.forget(pgid)
	if ctx.Err() != nil || contained.Load() {
		// The leader may be gone by itself, but what it started in its
		// group is not; a timeout or cancel means all of it.
		killGroup(pgid)
	}
	if contained.Load() {
		sweep(since)
	}
	return cmd.Wait()
}

func (p *Procs) forget(pgid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.groups, pgid)
}

// signal kills the group pgid if its command is still running; else it is
// os.ErrProcessDone, as os/exec expects of a Cancel that came too late.
func (p *Procs) signal(pgid int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.groups[pgid]; !ok {
		return os.ErrProcessDone
	}
	return killGroup(pgid)
}

// KillAll kills the process group of every command still running, and, in
// a process that contains its jobs, every orphan left to it: what a host
// runs dies with it. The group of a command that has ended is not
// signalled: its number may be another process's by now.
func (p *Procs) KillAll() {
	p.mu.Lock()
	for pgid := range p.groups {
		killGroup(pgid)
	}
	p.mu.Unlock()
	if contained.Load() {
		sweep(0)
	}
}

// Running is the number of process groups Procs would signal now: one per
// command whose leader has not exited yet.
func (p *Procs) Running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.groups)
}

func killGroup(pgid int) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// own holds this process's own children: the pids Procs started that
// os/exec has not reaped yet. The reaper and the sweep hold it while they
// look for orphans, and never wait for a pid in it, so cmd.Wait always
// gets its child's status; Procs.start holds it while it starts a child,
// so a child just started is never taken for an orphan. Pids are counted,
// not just listed: a pid os/exec just reaped may be a new child's before
// ownReaped runs.
var own = struct {
	sync.Mutex
	pids map[int]int
}{pids: map[int]int{}}

// ownReaped says os/exec has reaped pid: from now on a child with this pid
// is an orphan like any other.
func ownReaped(pid int) {
	own.Lock()
	defer own.Unlock()
	if own.pids[pid]--; own.pids[pid] <= 0 {
		delete(own.pids, pid)
	}
}

// contained is set once this process contains its jobs (Contain).
var contained atomic.Bool

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
