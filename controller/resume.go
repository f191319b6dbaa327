package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
)

// ErrPlanChanged is returned when a resume finds the plan changed since the
// run began: the journal's step numbers may no longer mean the same jobs.
var ErrPlanChanged = errors.New("the plan changed since the run began")

// resume finds the run to continue on this node, checks that it still holds
// the node, and returns the step to continue at. The run is the one whose
// deploy id the node's lock carries, from this workstation's journal or,
// when it began elsewhere, rebuilt from the node's; on a free node, the
// newest unfinished run that never held the lock.
func (n *nodeRun) resume(ctx context.Context) (int, jobs.Status) {
	fail := func(s jobs.Status, format string, args ...any) (int, jobs.Status) {
		n.rep.Printf("%s: cannot resume: %s", n.node.Name, fmt.Sprintf(format, args...))
		if s == "" {
			// Not a job's outcome: the operator asked for something
			// that cannot be, and nothing was touched.
			n.usage = true
			s = jobs.Error
		}
		return 0, s
	}
	c, err := n.connect(ctx)
	if err != nil {
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return fail(jobs.Blocked, "%v", err)
		}
		return fail(jobs.Error, "%v", err)
	}
	nodeStatus, err := ReadStatus(ctx, c, n.node)
	if err != nil {
		return fail(jobs.Error, "%v", err)
	}
	held := nodeStatus.Lock
	if nodeStatus.Alive {
		// A run is connected to the node right now; two controllers must
		// never drive one node.
		return fail(jobs.Blocked, "%s is held by a live run: %s (heartbeat %s ago); wait for it to stop, or stop it", n.node.Name, held, nodeStatus.Age().Round(time.Second))
	}
	runs, err := Runs(n.stateDir(), n.node.Name)
	if err != nil {
		return fail(jobs.Error, "%v", err)
	}
	j, status, msg := n.findRun(held, runs)
	if j == nil {
		return fail(status, "%s", msg)
	}
	if j.State.Plan != n.plan.Name {
		j.Close()
		return fail(jobs.Status(""), "the run to resume is of plan %q: run `%s run %s %s --resume`", j.State.Plan, n.opts.Invocation, j.State.Plan, n.node.Name)
	}
	if j.State.PlanHash != n.plan.Hash && !n.opts.ForcePlanChange {
		j.Close()
		return fail(jobs.Status(""), "%v (its steps now resolve differently); check `%s plan %s --node %s`, then resume with --force-plan-change", ErrPlanChanged, n.opts.Invocation, n.plan.Name, n.node.Name)
	}
	if held != nil {
		if err := j.Merge(held.Journal); err != nil {
			n.log.Warn().Err(err).Msg("journal")
		}
	}
	n.locked = held != nil
	if mounted, _ := jobs.IsMountPoint(n.localBundle); mounted {
		// The stopped run's bridge into the bundle is this run's now: it
		// is unmounted if this run ends other than STOPPED.
		n.env(io.Discard, n.log).Mounted(n.localBundle)
	}
	n.journal = j
	n.journal.State.PID = os.Getpid()
	n.journal.State.Holder = holder()
	if err := j.Reopen(); err != nil {
		return fail(jobs.Error, "%v", err)
	}
	first := n.from
	if first == 0 {
		first = j.Next(len(n.plan.Steps))
	}
	if first == 0 {
		n.rep.Printf("%s: every step of deploy %s is done; nothing to resume", n.node.Name, j.State.DeployID)
		n.finish()
		return 0, jobs.OK
	}
	n.rep.Printf("%s: resuming deploy %s of plan %s at step %d/%d", n.node.Name, j.State.DeployID, n.plan.Name, first, len(n.plan.Steps))
	if n.locked {
		// Join the bundle now, not at the first remote job: the agent
		// keeps the lock's heartbeat, showing the run alive, and takes the
		// journal of the local jobs before it.
		if res := n.startAgent(ctx, channel.LockAttach); res.Status != jobs.OK {
			j.End(string(res.Status))
			return fail(res.Status, "%s", res.Message)
		}
	}
	return first, jobs.OK
}

// findRun picks the run to resume, or says why there is none.
func (n *nodeRun) findRun(held *bundle.Lock, runs []State) (*Journal, jobs.Status, string) {
	if held != nil {
		if held.DeployID == "" {
			return nil, jobs.Blocked, fmt.Sprintf("%s is locked by %s", n.node.Name, held.Holder)
		}
		for _, r := range runs {
			if r.DeployID == held.DeployID {
				j, err := OpenJournal(n.stateDir(), n.node.Name, r.DeployID)
				if err != nil {
					return nil, jobs.Error, err.Error()
				}
				return j, jobs.OK, ""
			}
		}
		// The run began on another workstation: continue from the
		// node's own record of it.
		st := State{Lock: *held, Files: n.opts.File.Paths, Status: stateRunning}
		st.Journal = nil
		j, err := NewJournal(n.stateDir(), st)
		if err != nil {
			return nil, jobs.Error, err.Error()
		}
		return j, jobs.OK, ""
	}
	for _, r := range runs {
		if r.Status == string(jobs.OK) {
			continue
		}
		j, err := OpenJournal(n.stateDir(), n.node.Name, r.DeployID)
		if err != nil {
			return nil, jobs.Error, err.Error()
		}
		if j.HeldLock() {
			j.Close()
			return nil, jobs.Blocked, fmt.Sprintf("deploy %s held %s, but the node's bundle is gone (removed by conc unlock, or by hand); start a new deploy", r.DeployID, n.node.Name)
		}
		return j, jobs.OK, ""
	}
	return nil, jobs.Status(""), fmt.Sprintf("no unfinished run of %s to resume; start one with `%s %s %s`", n.node.Name, n.opts.Invocation, n.opts.Verb, n.node.Name)
}

// holder names this controller: user@host.
func holder() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}
