package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/localops"
	"github.com/concdeploy/conc/nodelock"
	"github.com/concdeploy/conc/nodetest"
	"github.com/concdeploy/conc/rollout"
	"github.com/concdeploy/conc/runreport"
	"github.com/concdeploy/conc/runstate"
	"github.com/concdeploy/conc/sshconn"
	"github.com/concdeploy/conc/testrun"
)

// Deploy is a plan resolved for a set of nodes, ready to run.
type Deploy struct {
	opts *Options
	runs []*nodeRun
}

// New resolves the plan for every node. Its errors are the deploy file's,
// with their file and line: nothing has been touched yet.
func New(opts *Options, nodes []*config.Node) (*Deploy, error) {
	d := &Deploy{opts: opts}
	for _, n := range nodes {
		r, err := newNodeRun(opts, n)
		if err != nil {
			return nil, err
		}
		d.runs = append(d.runs, r)
	}
	return d, nil
}

// NeedsSudo reports whether any job of the plan needs the sudo password,
// so that it is asked for only then, and before connecting.
func (d *Deploy) NeedsSudo() bool {
	for _, r := range d.runs {
		for _, st := range r.plan.Steps {
			if s, ok := st.Action.(jobs.SudoUser); ok && s.NeedsSudo() {
				return true
			}
		}
		if r.testsNeedSudo {
			return true
		}
	}
	return false
}

// nodeRun is one plan's run on one node.
type nodeRun struct {
	opts        *Options
	node        *config.Node
	plan        *config.Plan
	params      map[string]string
	overrides   map[string]string // -p, or what a resume applies again
	localHome   string
	localBundle string
	target      sshconn.Target
	log         zerolog.Logger
	rep         *runreport.Reporter
	procs       jobs.Procs
	journal     *runstate.Journal

	connMu     sync.Mutex
	conn       *sshconn.Conn
	agent      *agentclient.Client
	locked     bool                  // this run holds the node's bundle
	lostBundle bool                  // it held it, and the agent found it removed or replaced
	lockSeen   nodelock.NodeStatus   // the node's lock as a resume read it
	hostKey    *sshconn.HostKeyError // the node's or a hop's key was refused

	ahead     map[int]uint32 // steps sent with a run-ahead group, not yet answered, to their job IDs
	aheadStop func()         // unregisters the group's drop on a rollout halt

	mountMu sync.Mutex
	mounts  map[string]bool // what this run's jobs mounted and did not unmount

	stops         stops
	tests         []byte // the node's tests, for nodetest steps
	testsNeedSudo bool   // one of them runs with sudo
	seq           int64  // the journal's number of the job running now (bundle.Entry.Seq)
	from          int    // --from, resolved
	usage         bool   // the run was refused as the operator's mistake: exit 2

	rollout     *rollout.State // shared with the run's other nodes
	failCounted bool
	out         runreport.Outcome // how it ended, for the recap
}

// newNodeRun resolves the plan for the node; every error is the deploy
// file's and names its line.
func newNodeRun(opts *Options, n *config.Node) (*nodeRun, error) {
	file := opts.File
	if opts.Resume || opts.From != "" {
		// A resume resolves the plan with the -p values its run began
		// with, as this workstation's journal recorded them; the node's
		// record is compared with them once read (resume.go).
		var err error
		if file, n, err = withRecordedParams(opts, n); err != nil {
			return nil, err
		}
	}
	plan, err := file.Plan(opts.Ops, opts.Plan, n)
	if err != nil {
		return nil, err
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, fmt.Errorf("find the local home directory: %w", err)
	}
	lb, err := config.LocalPath(n.Get(config.KeyLocal), opts.File.Dir)
	if err != nil {
		return nil, err
	}
	if !opts.Resume && opts.From == "" && !opts.DryRun {
		// A resume may have put the files already, and they may be gone;
		// a dry run reports a missing file at its step, with the rest.
		if err := checkInputs(plan, opts.File.Dir); err != nil {
			return nil, err
		}
	}
	target, err := sshconn.TargetOf(n, opts.File.Dir)
	if err == nil {
		err = target.CheckIdentity(n)
	}
	if err != nil {
		return nil, err
	}
	st, err := resolveStops(plan, opts.StopBefore, opts.StopAfter)
	if err != nil {
		return nil, err
	}
	tests, testsNeedSudo, err := planTests(file, plan, n)
	if err != nil {
		return nil, err
	}
	from := 0
	if opts.From != "" {
		if from, err = resolveStep(plan, opts.From); err != nil {
			return nil, fmt.Errorf("--from: %w", err)
		}
	}
	// Ops see the params as conc resolved them: the admin, address, port,
	// paths and jump hosts its own connection uses, ssh_config applied, so
	// that sshfs connects the same way.
	params := n.Values()
	target.SetParams(params)
	return &nodeRun{
		opts: opts, node: n, plan: plan, params: params, overrides: file.Overrides(), localHome: home, localBundle: lb, target: target,
		stops: st, from: from, tests: tests, testsNeedSudo: testsNeedSudo,
		log: opts.Log.With().Str(runreport.FieldNode, n.Name).Logger(), rep: opts.Reporter,
		out: runreport.Outcome{Node: n.Name, Steps: len(plan.Steps)}, ahead: map[int]uint32{},
	}, nil
}

// planTests compiles the node's tests when the plan runs them, as the
// nodetest steps' input, and says whether one of them needs sudo.
func planTests(f *config.File, plan *config.Plan, n *config.Node) ([]byte, bool, error) {
	for _, st := range plan.Steps {
		if st.Info.Input != jobs.NodeTests {
			continue
		}
		specs, err := testrun.Compile(f, n)
		if err != nil {
			return nil, false, err
		}
		sudo := false
		for _, s := range specs {
			sudo = sudo || s.Sudo
		}
		input, err := nodetest.EncodeSpecs(specs)
		return input, sudo, err
	}
	return nil, false, nil
}

// run steps through the plan and returns the status the run ended with.
func (n *nodeRun) run(ctx context.Context) jobs.Status {
	for _, st := range n.plan.Steps {
		localops.Prefetch(st.Action, n.opts.File.Dir) // hashed while it connects
	}
	first, status := n.begin(ctx)
	if status != jobs.OK || first == 0 {
		return status
	}
	steps := n.plan.Steps
	ask := n.opts.Step
	for i := first - 1; i < len(steps); i++ {
		st := &steps[i]
		n.seq++
		sent := n.ahead[st.Number] != 0 // sent ahead with a group, and not yet answered
		var settled *agentclient.Result // its result, when it had to be settled first
		switch {
		case ctx.Err() != nil && !sent:
			return n.halt(st, jobs.Resultf(jobs.Stopped, "stopped by the operator"), "before")
		case n.rollout.Halted() != "" && !sent:
			return n.halt(st, jobs.Resultf(jobs.Stopped, "%s", n.rollout.Halted()), "before")
		case st.Number == n.stops.before:
			return n.halt(st, jobs.Resultf(jobs.Stopped, "--stop-before %d", st.Number), "before")
		case sent && (ctx.Err() != nil || n.rollout.Halted() != ""):
			// The job is on the node already: it did not start, and will
			// not, or it ran and is reported as it ended.
			r, ran := n.settle(ctx, st)
			if !ran {
				return n.halt(st, r.Result, "before")
			}
			settled = &r
		}
		if ask != nil {
			n.rep.Flush()
			switch ask.Ask(n.node.Name, st.Number, len(steps), st.Job) {
			case StepSkip:
				n.skip(st)
				continue
			case StepStop:
				return n.halt(st, jobs.Resultf(jobs.Stopped, "stopped by the operator"), "before")
			case StepAll:
				ask = nil
			}
		}
		t0 := time.Now()
		n.rep.JobStart(n.node.Name, st.Job.Host, st.Number, len(steps), st.Job.Op)
		if n.opts.Terminal != nil && st.Job.Host == jobs.Local && st.Info.Bundle == jobs.WritesBundle {
			n.rep.ShowsBar(n.node.Name) // a copy's progress bar says more than the live line
		}
		res, d := n.step(ctx, st, ask == nil, settled)
		if res.Status == jobs.Error && errors.Is(context.Cause(ctx), jobs.ErrCanceled) {
			res.Status, res.Message = jobs.Stopped, "stopped by the operator: "+res.Message // as jobs.Execute maps it
		}
		if d == 0 {
			d = time.Since(t0)
		}
		if n.agent != nil && n.agent.BundleLost() {
			n.locked, n.lostBundle = false, true
		}
		if rollout.Failing(res.Status) {
			// Counted before it is journaled: whoever reads the journal
			// sees the rollout already stopping.
			n.countFailure()
		}
		n.rep.Job(n.node.Name, st.Job.Host, st.Number, len(steps), st.Job.Op, st.Job.Args, res, d)
		n.record(st, res, d)
		switch {
		case res.Status != jobs.OK:
			return n.halt(st, res, "at")
		case st.Number == n.stops.after && i < len(steps)-1:
			return n.halt(st, jobs.Resultf(jobs.Stopped, "--stop-after %d", st.Number), "after")
		}
	}
	n.finish()
	return jobs.OK
}

// begin starts the run's journal, or reopens the one a resume continues,
// and returns the first step to run.
func (n *nodeRun) begin(ctx context.Context) (int, jobs.Status) {
	if n.opts.Resume || n.opts.From != "" {
		return n.resume(ctx)
	}
	if err := n.startJournal(); err != nil {
		n.rep.Printf("conc: %s: %v", n.node.Name, err)
		return 0, jobs.Error
	}
	return 1, jobs.OK
}

// skip records a job the operator chose not to run.
func (n *nodeRun) skip(st *config.Step) {
	res := jobs.Result{Status: bundle.Skipped, Message: "skipped by the operator"}
	n.rep.Job(n.node.Name, st.Job.Host, st.Number, len(n.plan.Steps), st.Job.Op, st.Job.Args, res, 0)
	n.record(st, res, 0)
}

func (n *nodeRun) startJournal() error {
	st := runstate.State{
		Lock: bundle.Lock{
			DeployID: runstate.NewDeployID(), Holder: nodelock.Holder(), PID: os.Getpid(),
			Node: n.node.Name, Plan: n.plan.Name, PlanHash: n.plan.Hash, Steps: len(n.plan.Steps),
			Started: time.Now(), Params: n.overrides,
		},
		Files:  n.opts.File.Paths,
		Status: runstate.Running,
	}
	j, err := runstate.NewJournal(n.stateDir(), st)
	if err != nil {
		return err
	}
	n.journal = j
	return nil
}

func (n *nodeRun) stateDir() string { return stateDir(n.opts) }

func stateDir(opts *Options) string {
	if opts.StateDir != "" {
		return opts.StateDir
	}
	return filepath.Join(opts.File.Dir, ".conc", "state")
}

// step runs one job and returns its result, and its duration when the
// agent measured it. A remote job the agent runs may be sent with the
// jobs after it as a run-ahead group (ahead.go), when ahead allows; one
// sent already is waited for, unless settled holds its result.
func (n *nodeRun) step(ctx context.Context, st *config.Step, ahead bool, settled *agentclient.Result) (jobs.Result, time.Duration) {
	remote := st.Job.Host == jobs.Remote
	switch {
	case st.Info.Opens(st.Job.Host):
		return n.openBundle(ctx, st, ahead), 0
	case st.Info.Here(st.Job.Host) && st.UnderLock():
		return n.runFenced(ctx, st, remote), 0
	case !remote:
		return n.runHere(ctx, st, false), 0
	case n.agent == nil:
		return jobs.Resultf(jobs.Error, "no agent is running on %s", n.node.Name), 0
	}
	if n.ahead[st.Number] == 0 && ahead {
		n.sendAhead(st)
	}
	if id := n.ahead[st.Number]; id != 0 {
		delete(n.ahead, st.Number)
		defer n.aheadDone()
		r := settled
		if r == nil {
			w := n.agent.Wait(ctx, id, st.Job.Timeout)
			r = &w
		}
		if r.Dropped {
			// Canceled in the moment between the job before it ending
			// and this one starting.
			return jobs.Resultf(jobs.Stopped, "stopped by the operator before it started"), 0
		}
		return r.Result, r.Duration
	}
	r := n.agent.Run(ctx, st.Number, n.seq, st.Job, n.input(st))
	return r.Result, r.Duration
}

// input is what the agent gets with the job besides its arguments.
func (n *nodeRun) input(st *config.Step) []byte {
	if st.Info.Input == jobs.NodeTests {
		return n.tests
	}
	return nil
}

// runFenced runs here a job that writes into the node's bundle by its path
// (over SFTP or sshfs), which nothing on the node checks. So the agent
// first confirms that the bundle at the path is still the one this run
// holds, and the job is cut short if that agent ends while it runs: the
// bundle may then be another run's.
func (n *nodeRun) runFenced(ctx context.Context, st *config.Step, onNode bool) jobs.Result {
	if n.agent == nil || !n.locked {
		// Only --step's "n" on remote open_bundle gets here: the plan's
		// shape and the resume decision keep these jobs under the lock.
		return jobs.Resultf(jobs.Error, "this run does not hold %s's bundle, which the job writes into (remote open_bundle did not run); nothing was done", n.node.Name)
	}
	// A job whose every request the node fences itself needs none first.
	_, byStore := st.Action.(localops.FencedByStore)
	byStore = byStore && n.storeLimit() > 0
	if !byStore {
		if res := n.agent.Fence(ctx); res.Status != jobs.OK {
			return res
		}
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	gone := n.agent.Gone() // read here: the run may drop its agent while this waits
	stop := context.AfterFunc(gone, func() { cancel(context.Cause(gone)) })
	defer stop()
	res := n.runHere(jctx, st, onNode)
	if byStore && gone.Err() != nil {
		// The agent ended: its last words say whether the bundle was
		// taken from this run.
		n.agent.Fence(context.WithoutCancel(ctx))
	}
	return res
}

// runHere runs a job in the controller, with its output kept for the
// result and streamed with -v. onNode is for a remote job the controller
// runs itself (jobs.Info.InController).
func (n *nodeRun) runHere(ctx context.Context, st *config.Step, onNode bool) jobs.Result {
	var stream io.Writer
	if n.opts.Verbose {
		stream = &streamWriter{rep: n.rep, node: n.node.Name}
	}
	tail := jobs.NewTail(stream)
	var env jobs.Env = n.env(tail, n.log.With().Int(runreport.FieldStep, st.Number).Str(runreport.FieldOp, st.Job.Op).Logger())
	if onNode {
		env = &nodeSideEnv{env.(*localEnv)}
	}
	res := jobs.Execute(ctx, st.Action, env, st.Job.Timeout)
	if res.Status != jobs.OK || n.opts.Verbose {
		res.Output = tail.Bytes()
	}
	return res
}

// connect dials the node once; later calls reuse the connection.
func (n *nodeRun) connect(ctx context.Context) (*sshconn.Conn, error) {
	n.connMu.Lock()
	defer n.connMu.Unlock()
	if n.conn != nil {
		return n.conn, nil
	}
	c, err := sshconn.Dial(ctx, n.target, n.opts.Dial)
	if err != nil {
		return nil, err
	}
	n.conn = c
	return c, nil
}

// openBundle is remote open_bundle: connect, start the agent, take the lock.
func (n *nodeRun) openBundle(ctx context.Context, st *config.Step, ahead bool) jobs.Result {
	var group []*config.Step
	if ahead && st.Number < len(n.plan.Steps) && n.stops.after != st.Number {
		// The jobs after it go with the hello: the first ones cost no
		// round trip of their own.
		group = n.aheadGroup(&n.plan.Steps[st.Number])
	}
	return n.startAgent(ctx, channel.LockOpen, n.journal.State.Lock, nil, group)
}

// startAgent starts the agent that serves the run, taking the bundle as
// mode says with rec as its record; expect is the record an attach joins.
func (n *nodeRun) startAgent(ctx context.Context, mode string, rec bundle.Lock, expect *channel.Expect, group []*config.Step) jobs.Result {
	c, err := n.connect(ctx)
	if err != nil {
		// A host key refused is not a lock: its stop message says what to
		// check and how to record the key (hints.go).
		errors.As(err, &n.hostKey)
		return jobs.Resultf(jobs.Error, "%v", err)
	}
	if n.agent != nil {
		// A plan that closed the bundle opens it again: the agent that
		// served the first has nothing left to hold.
		n.agent.Close()
		n.agent = nil
	}
	rec.Journal = nil
	hello := &channel.Hello{
		Version: channel.Version, Node: n.node.Name, Params: n.params,
		Bundle: n.node.Get(config.KeyBundle), LockMode: mode, Lock: rec.Wire(), Expect: expect,
		Verbose: n.opts.Verbose, Sudo: n.opts.Sudo,
	}
	js := n.aheadJobs(group, 1)
	r, ids, err := agentclient.OpenAhead(ctx, c, n.opts.Agents, hello, n.agentLog, n.agentOutput, js)
	if err != nil {
		return jobs.Resultf(jobs.Error, "start the agent on %s: %v", n.node.Name, err)
	}
	for _, msg := range r.Notices() {
		n.rep.Printf("%s: %s", n.node.Name, msg)
	}
	switch jobs.Status(r.Ready().Status) {
	case jobs.OK:
		n.agent = r
		n.sentAhead(group, ids)
		return jobs.Resultf(jobs.OK, "~/%s", n.node.Get(config.KeyBundle))
	case jobs.Blocked:
		r.Close()
		msg := r.Ready().Message
		if r.Ready().Lock != nil {
			msg += "; held by " + bundle.LockFromWire(r.Ready().Lock).String()
		}
		if r.Ready().Live {
			msg += " (alive: its agent holds the lock now)"
		}
		return jobs.Resultf(jobs.Blocked, "%s", msg)
	default:
		r.Close()
		return jobs.Resultf(jobs.Status(r.Ready().Status), "%s", r.Ready().Message)
	}
}

// agentLog logs a line of the agent's stderr.
func (n *nodeRun) agentLog(line string) {
	n.log.Debug().Str(runreport.FieldHost, n.node.Name).Msg("agent: " + line)
}

// agentOutput shows a remote job's output as it runs, with -v. Node test
// events are shown in the job's output already.
func (n *nodeRun) agentOutput(_ uint32, stream int, data []byte) {
	if stream != channel.Event {
		n.rep.Stream(n.node.Name, data)
	}
}

// record journals a job, locally and, through the agent, on the node.
func (n *nodeRun) record(st *config.Step, res jobs.Result, d time.Duration) {
	n.out.Job(st.Number, st.Job.Op, res)
	e := bundle.Entry{
		Step: st.Number, Seq: n.seq, Host: string(st.Job.Host), Op: st.Job.Op, Status: string(res.Status),
		Message: res.Message, Change: res.Change, Duration: bundle.Duration(d), Ended: time.Now(),
	}
	if err := n.journal.Record(e); err != nil {
		n.log.Warn().Err(err).Msg("journal")
	}
	if n.agent != nil && (st.Info.Here(st.Job.Host) || res.Status == bundle.Skipped) {
		// Jobs the controller ran itself, and those the operator skipped,
		// reach the node's journal with the next message to the agent.
		n.agent.Journal(e)
	}
	if res.Status == jobs.OK {
		switch {
		case st.Info.Opens(st.Job.Host):
			n.locked = true
		case st.Info.Closes(st.Job.Host):
			n.locked = false
		}
	}
}

// finish ends a run in which every job was OK.
func (n *nodeRun) finish() {
	n.unmountAll()
	n.disconnect()
	if err := n.journal.End(string(jobs.OK)); err != nil {
		n.log.Warn().Err(err).Msg("journal")
	}
}

// halt ends a run at, before or after a step, and says what is left and
// what to do next. It returns the status the run ends with.
func (n *nodeRun) halt(st *config.Step, res jobs.Result, where string) jobs.Status {
	if rollout.Failing(res.Status) {
		n.countFailure()
	}
	if res.Status != jobs.Stopped || len(n.target.Jumps) > 0 {
		// Only a run stopped on purpose keeps its mounts, as the
		// operator's bridge into the bundle; not through jump hosts,
		// whose forward ends with this process.
		n.unmountAll()
	}
	// Resumable: its journal goes on with --resume, as its stop message
	// says; not a run that lost its bundle, nor one the lock kept out.
	n.out.Message = res.Message
	n.out.Resumable = n.journal != nil && !n.lostBundle && n.hostKey == nil &&
		!(res.Status == jobs.Blocked && st.Info.Opens(st.Job.Host))
	n.disconnect()
	if err := n.journal.End(string(res.Status)); err != nil {
		n.log.Warn().Err(err).Msg("journal")
	}
	n.rep.Printf("%s", n.stopMessage(st, res, where))
	return res.Status
}

// unmountAll unmounts what this run mounted and left mounted.
func (n *nodeRun) unmountAll() {
	n.mountMu.Lock()
	dirs := make([]string, 0, len(n.mounts))
	for d := range n.mounts {
		dirs = append(dirs, d)
	}
	n.mountMu.Unlock()
	for _, d := range dirs {
		env := n.env(io.Discard, n.log)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res := localops.Unmount(ctx, env, d)
		cancel()
		if res.Status == jobs.OK {
			n.rep.Printf("%s: unmounted %s", n.node.Name, d)
		} else {
			n.rep.Printf("%s: could not unmount %s: %s", n.node.Name, d, res.Message)
		}
	}
}

// env is the local Env for a job or for conc's own clean-up.
func (n *nodeRun) env(out io.Writer, log zerolog.Logger) *localEnv {
	return &localEnv{n: n, out: out, log: &log, procs: &n.procs}
}

func (n *nodeRun) disconnect() {
	clear(n.ahead) // the agent's bye comes after its answers to them
	n.aheadDone()
	switch {
	case n.agent != nil && !n.locked && !n.opts.Verbose:
		// Nothing of the node's lock is left to write (the plan closed
		// the bundle, or never held it): no need to wait for the answer.
		n.agent.CloseNow()
		n.agent = nil
	case n.agent != nil:
		n.agent.Close()
		n.log.Debug().Int64("agent_max_rss_kb", n.agent.MaxRSS()).Msg("agent said bye")
		n.agent = nil
	}
	if n.conn != nil {
		n.conn.Close()
		n.conn = nil
	}
}

// streamWriter passes a local job's output to the reporter as it comes.
type streamWriter struct {
	rep  *runreport.Reporter
	node string
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.rep.Stream(s.node, p)
	return len(p), nil
}

// checkInputs checks the local files that steps name from the start
// (put, copy_product) before anything runs, as deploy-file errors at the
// step's line. It stops checking at the first local run or template, whose
// output a later step may take.
func checkInputs(plan *config.Plan, dir string) error {
	for _, st := range plan.Steps {
		if st.Job.Host == jobs.Local && (st.Job.Op == "run" || st.Job.Op == "template") {
			return nil
		}
		if in, ok := st.Action.(jobs.LocalInputs); ok {
			if err := in.CheckInputs(dir); err != nil {
				return &config.Error{Pos: st.Pos, Msg: fmt.Sprintf("step %d (%s %s): %v; nothing was done", st.Number, st.Job.Host, st.Job.Op, err)}
			}
		}
	}
	return nil
}
