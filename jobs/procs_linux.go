package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// How a process that contains its jobs finds what escaped a job's process
// group.
//
// A job's command may leave its group (setsid, setpgid) and its parent may
// exit. The kernel then gives the orphan to the nearest ancestor that is a
// child subreaper, and Contain makes this process one: everything a job
// started is either in the job's group, or below a child of this process
// that is not one of its own (those os/exec started and waits for). So,
// once a command's leader has exited, the sweep kills the group, then
// every such orphan that started since the command began, and every
// process below one that did (with its own group when it leads one: it may
// still sit under a dying member of the job's group), reaps them, and
// looks again while the last look killed or reaped anything, since an
// exiting process hands its children to this one. Commands run one
// at a time in such a process (the agent runs one job at a time), so "since
// the command began" is "the command's".
//
// A subreaper must also reap the orphans that exit by themselves while a
// job runs, or their zombies pile up. The reaper does, on every SIGCHLD,
// with wait4 on each zombie child by its pid, never on -1, and never on a
// pid in own: os/exec waits for those itself.

// Timings of the sweep.
const (
	sweepTimeout = 2 * time.Second      // for killed orphans to die; a process in uninterruptible sleep may take longer
	sweepPoll    = 2 * time.Millisecond // between looks at the orphans
)

var startReaper sync.Once

// Contain makes this process contain the jobs it runs, for the rest of its
// life: it becomes a child subreaper, so that a job's processes that leave
// its process group are re-parented to it rather than to init; orphans that
// exit are reaped as they do; and from then on every command Procs runs
// leaves no process behind when it ends, in its group or out of it.
//
// Only a process that starts its children through Procs alone may call
// it, the agent: it takes any other child for a job's orphan.
func Contain() error {
	startReaper.Do(func() {
		// Notify before the prctl, so that no orphan's exit goes unseen.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, unix.SIGCHLD)
		go reapOrphans(sig)
	})
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a child subreaper: %w", err)
	}
	contained.Store(true)
	return nil
}

// reapOrphans reaps the zombie orphans on every SIGCHLD, for the life of
// the process. One signal may stand for many exits, so each time it looks
// at all the children.
func reapOrphans(sig <-chan os.Signal) {
	for {
		reapZombies()
		<-sig
	}
}

func reapZombies() {
	own.Lock()
	defer own.Unlock()
	for _, o := range orphans(0) {
		if o.state == 'Z' {
			reap(o.pid)
		}
	}
}

// sweep kills and reaps the orphans that started at or after since (in
// clock ticks after boot, as /proc gives start times; 0 for all of them),
// and everything below them, until a look finds nothing left to kill or
// reap, or sweepTimeout has passed.
func sweep(since uint64) {
	deadline := time.Now().Add(sweepTimeout)
	for killStrays(since) && time.Now().Before(deadline) {
		time.Sleep(sweepPoll)
	}
}

// killStrays kills the live strays that started since since, reaps the
// dead orphans, and reports whether it did either: then the sweep must
// look again. A process that exits hands its children to this process
// before it turns zombie, so one that was seen alive or reaped may have
// handed over children the look did not see yet. A zombie deeper down
// needs no second look: its parent is alive, and so killed here or not
// this process's to kill.
func killStrays(since uint64) (busy bool) {
	own.Lock()
	defer own.Unlock()
	self := os.Getpid()
	for _, o := range strays(since) {
		switch {
		case o.state == 'Z' && o.ppid == self:
			reap(o.pid)
			busy = true
		case o.state == 'Z':
		default:
			if o.pgid == o.pid {
				// It leads a group, after setsid or setpgid: while it is
				// alive, that group is its own.
				unix.Kill(-o.pid, unix.SIGKILL)
			}
			if err := unix.Kill(o.pid, unix.SIGKILL); errors.Is(err, unix.EPERM) {
				continue // another user's, as a job's sudo left it: the reaper reaps it when it exits
			}
			busy = true
		}
	}
	return busy
}

func reap(pid int) {
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, unix.WNOHANG, nil)
}

// awaitExit waits until the process pid has exited and leaves it unreaped:
// the zombie keeps its pid, and so its process group's number, from being
// given to another process until cmd.Wait reaps it. It reports whether it
// could.
func awaitExit(pid int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return err == nil
		}
	}
}

// procStat is what /proc/PID/stat says of a process that the sweep needs.
type procStat struct {
	pid, ppid, pgid int
	state           byte
	start           uint64 // clock ticks after boot
}

// orphans lists this process's children that are not its own and started
// at or after since. The caller holds own.
func orphans(since uint64) []procStat {
	self := os.Getpid()
	var out []procStat
	for _, pid := range children("self") {
		st, err := readStat(pid)
		if err != nil || st.ppid != self || st.start < since {
			continue
		}
		if _, mine := own.pids[pid]; !mine {
			out = append(out, st)
		}
	}
	return out
}

// strays lists the orphans that started at or after since and, below
// them, every process that did: what a job left behind may still sit
// under a process the sweep is killing, and would come to this process
// only once that one has exited. The caller holds own.
func strays(since uint64) []procStat {
	out := orphans(since)
	for i := 0; i < len(out); i++ {
		for _, pid := range children(strconv.Itoa(out[i].pid)) {
			if st, err := readStat(pid); err == nil && st.ppid == out[i].pid && st.start >= since {
				out = append(out, st)
			}
		}
	}
	return out
}

// children lists the children of the process pid ("self" for this one)
// from the kernel's lists, one per thread. On a kernel built without them
// it lists every process for this one, and orphans keeps those whose
// parent it is; for another process, none, and the sweep finds them once
// they are this process's.
func children(pid string) []int {
	tids, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		if pid == "self" {
			return allPids()
		}
		return nil
	}
	var pids []int
	for _, t := range tids {
		b, err := os.ReadFile("/proc/" + pid + "/task/" + t.Name() + "/children")
		if errors.Is(err, os.ErrNotExist) && len(pids) == 0 {
			if pid == "self" {
				return allPids()
			}
			return nil
		}
		pids = append(pids, atois(string(b))...)
	}
	return pids
}

func allPids() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func atois(s string) []int {
	var out []int
	for _, f := range strings.Fields(s) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// readStat reads /proc/PID/stat. The command name, in parentheses, may
// hold spaces and parentheses, so the fields are counted from the last
// ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	// After the name: state, ppid, pgrp, ... and field 22, starttime.
	st := procStat{pid: pid, state: f[0][0]}
	st.ppid, _ = strconv.Atoi(f[1])
	st.pgid, _ = strconv.Atoi(f[2])
	st.start, _ = strconv.ParseUint(f[19], 10, 64)
	return st, nil
}

// startTime is when the process pid started, in clock ticks after boot; 0
// when it cannot be read, which makes a sweep take every orphan.
func startTime(pid int) uint64 {
	st, err := readStat(pid)
	if err != nil {
		return 0
	}
	return st.start
}
