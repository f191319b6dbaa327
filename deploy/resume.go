package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"

	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/nodelock"
	"github.com/concdeploy/conc/paramuse"
	"github.com/concdeploy/conc/runstate"
	"github.com/concdeploy/conc/sshconn"
)

// resume carries out a --resume or --from: it reads the node's bundle
// and this workstation's runs, decides (decideResume), joins the bundle if
// the run holds it, and only then takes over the run's local journal, so a
// resume that is refused, or that loses the race to attach, changes
// nothing. It returns the step to continue at, or 0 with OK when every
// step is done.
func (n *nodeRun) resume(ctx context.Context) (int, jobs.Status) {
	fail := func(s jobs.Status, format string, args ...any) (int, jobs.Status) {
		n.out.Message = "cannot resume: " + fmt.Sprintf(format, args...)
		n.rep.Printf("%s: %s", n.node.Name, n.out.Message)
		if s == "" {
			// Not a job's outcome: the operator asked for something
			// that cannot be, and nothing was touched.
			n.usage = true
			s = jobs.Error
		}
		n.disconnect()
		return 0, s
	}
	c, err := n.connect(ctx)
	if err != nil {
		if errors.As(err, &n.hostKey) {
			n.rep.Printf("%s", n.hostKeyHint())
		}
		return fail(jobs.Error, "%v", err)
	}
	f, err := n.resumeFacts(ctx, c)
	if err != nil {
		return fail(jobs.Error, "%v", err)
	}
	if err := n.checkParams(f); err != nil {
		return fail("", "%v", err)
	}
	d := runstate.Decide(f)
	switch d.Kind {
	case runstate.Refused:
		return fail(d.Status, "%s", d.Message)
	case runstate.Done:
		return n.resumeDone(d)
	}
	d.Run.Holder, d.Run.PID, d.Run.Params = nodelock.Holder(), os.Getpid(), n.overrides
	// A plan changed with --force-plan-change is the run's plan now: a
	// later resume compares with it.
	d.Run.PlanHash = n.plan.Hash
	if len(n.overrides) > 0 {
		n.rep.Printf("%s: with the run's%s", n.node.Name, config.OverrideFlags(n.overrides))
	}
	if d.Attach {
		// Join the bundle before anything else: the kernel lock makes
		// this the one run that continues, and from now on the node shows
		// it alive and takes the journal of its local jobs.
		if res := n.startAgent(ctx, channel.LockAttach, d.Run.Lock, n.lockSeen.Expect(), nil); res.Status != jobs.OK {
			return fail(res.Status, "%s", res.Message)
		}
		n.locked = true
	}
	if err := n.takeJournal(d); err != nil {
		return fail(jobs.Error, "%v", err)
	}
	if mounted, _ := jobs.IsMountPoint(n.localBundle); mounted {
		// The stopped run's bridge into the bundle is this run's now: it
		// is unmounted if this run ends other than STOPPED.
		n.env(io.Discard, n.log).Mounted(n.localBundle)
	}
	n.rep.Printf("%s: resuming deploy %s of plan %s at step %d/%d", n.node.Name, d.Run.DeployID, n.plan.Name, d.First, len(n.plan.Steps))
	return d.First, jobs.OK
}

// resumeFacts reads what a resume decides from: the node's bundle, through
// an agent that takes no lock, and the local run it concerns.
func (n *nodeRun) resumeFacts(ctx context.Context, c *sshconn.Conn) (runstate.Facts, error) {
	f := runstate.Facts{
		Ops: n.opts.Ops, Node: n.node.Name, Plan: n.plan.Name, PlanHash: n.plan.Hash, Steps: len(n.plan.Steps),
		UnderLock: map[int]bool{}, Opens: map[int]bool{},
		From: n.from, Force: n.opts.ForcePlanChange, Invocation: n.opts.Invocation, Verb: n.opts.Verb,
	}
	for _, st := range n.plan.Steps {
		f.UnderLock[st.Number] = st.UnderLock()
		f.Opens[st.Number] = st.Info.Opens(st.Job.Host)
	}
	st, err := nodelock.ReadStatus(ctx, c, n.opts.Agents, n.node)
	if err != nil {
		return f, err
	}
	n.lockSeen = st
	f.Lock = runstate.NodeLock{Held: st.Held, Live: st.Live, Record: st.Lock, Note: st.Note}
	runs, err := runstate.Runs(n.stateDir(), n.node.Name)
	if err != nil {
		return f, err
	}
	if r, ok := runstate.Candidate(runs, f.Lock); ok {
		f.Run = &r
		if f.Local, err = runstate.ReadEntries(n.stateDir(), n.node.Name, r.DeployID); err != nil {
			return f, err
		}
	}
	return f, nil
}

// withRecordedParams applies, under the -p values given now, those the
// node's last unfinished run on this workstation began with, and resolves
// the node again with them: a resume runs the steps its run began with.
func withRecordedParams(opts *Options, n *config.Node) (*config.File, *config.Node, error) {
	runs, err := runstate.Runs(stateDir(opts), n.Name)
	if err != nil {
		return nil, nil, err
	}
	r, ok := runstate.Candidate(runs, runstate.NodeLock{})
	if !ok || len(r.Params) == 0 {
		return opts.File, n, nil
	}
	merged, err := mergeParams(r.Params, opts.File.Overrides(), n.Name+"'s journal on this workstation")
	if err != nil {
		return nil, nil, err
	}
	file := opts.File.WithOverrides(merged)
	if err := paramuse.CheckOverrides(file); err != nil {
		return nil, nil, fmt.Errorf("the run to resume began with %w", err)
	}
	n, err = file.Node(n.Name)
	return file, n, err
}

// mergeParams is recorded under given, each recorded value checked as a
// -p is: a journal or a node's record is not taken on its word.
func mergeParams(recorded, given map[string]string, from string) (map[string]string, error) {
	merged := map[string]string{}
	for k, v := range recorded {
		if _, _, err := paramuse.ParseOverride(k + "=" + v); err != nil {
			return nil, fmt.Errorf("%s records a value conc refuses: %w", from, err)
		}
		merged[k] = v
	}
	maps.Copy(merged, given)
	return merged, nil
}

// checkParams refuses a resume whose plan was resolved with other -p
// values than those the node's record says its run began with (it began
// on another workstation, or this one's journal of it is gone), and says
// the command that resumes with them.
func (n *nodeRun) checkParams(f runstate.Facts) error {
	recorded := runstate.RecordedParams(f)
	merged, err := mergeParams(recorded, n.opts.File.Overrides(), "the lock record on "+n.node.Name)
	if err != nil || maps.Equal(merged, n.overrides) || len(merged)+len(n.overrides) == 0 {
		return err
	}
	missing := map[string]string{}
	for k, v := range merged {
		if n.overrides[k] != v {
			missing[k] = v
		}
	}
	flags := config.OverrideFlags(missing)
	return fmt.Errorf("the run began with%s, which this resume would not apply; continue with: %s%s %s %s --resume",
		flags, n.opts.Invocation, flags, n.opts.Verb, n.node.Name)
}

// resumeDone ends a resume that has nothing left to run, as when the run
// stopped at a pause that was its last step.
func (n *nodeRun) resumeDone(d runstate.Decision) (int, jobs.Status) {
	n.rep.Printf("%s: every step of deploy %s is done; nothing to resume", n.node.Name, d.Run.DeployID)
	if d.Attach {
		n.rep.Printf("  The bundle ~/%s stays on %s and keeps it locked: the plan does not remove it after its last step.\n  release it: %s",
			n.node.Get(config.KeyBundle), n.node.Name, strings.TrimSpace(n.opts.Invocation+" unlock "+n.node.Name))
	}
	n.disconnect()
	if d.FromNode {
		return 0, jobs.OK
	}
	j, err := runstate.OpenJournal(n.stateDir(), n.node.Name, d.Run.DeployID)
	if err == nil && j != nil {
		err = j.End(string(jobs.OK))
	}
	if err != nil {
		n.log.Warn().Err(err).Msg("journal")
	}
	return 0, jobs.OK
}

// takeJournal makes the resumed run's journal this run's: the local one,
// or a new one rebuilt from the node's when the run began elsewhere, with
// the node's entries merged in.
func (n *nodeRun) takeJournal(d runstate.Decision) error {
	var j *runstate.Journal
	var err error
	if d.FromNode {
		st := d.Run
		st.Files, st.Status = n.opts.File.Paths, runstate.Running
		j, err = runstate.NewJournal(n.stateDir(), st)
	} else {
		j, err = runstate.OpenJournal(n.stateDir(), n.node.Name, d.Run.DeployID)
	}
	if err != nil {
		return err
	}
	if j == nil {
		return fmt.Errorf("the journal of deploy %s is gone from %s", d.Run.DeployID, n.stateDir())
	}
	if err := j.Adopt(d.Entries); err != nil {
		n.log.Warn().Err(err).Msg("journal")
	}
	j.State.PID, j.State.Holder, j.State.Params = d.Run.PID, d.Run.Holder, d.Run.Params
	n.journal = j
	n.seq = runstate.LastSeq(d.Entries)
	return j.Reopen()
}
