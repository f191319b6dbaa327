package main

import (
	"bufio"
	"context"
	"errors"

	"github.com/concdeploy/conc/deploy"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/prompt"
	"github.com/concdeploy/conc/rollout"
	"github.com/concdeploy/conc/runreport"
	"github.com/concdeploy/conc/sshconn"
	"github.com/spf13/cobra"
)

// deployOptions are the flags of deploy and run.
type deployOptions struct {
	plan            string
	targets         []string
	parallel        int
	resume          bool
	from            string
	forcePlanChange bool
	stopBefore      string
	stopAfter       string
	step            bool
	sudo            sudoFlags
	batch, maxFail  string
	limit           string
	json            bool
	dryRun          bool
}

func (o *deployOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.step, "step", false, "ask before each job: y run it, n skip it, s stop here, c run the rest")
	f.StringVar(&o.stopBefore, "stop-before", "", "end the run STOPPED before STEP (a number, an op, or op#k for its k-th step)")
	f.StringVar(&o.stopAfter, "stop-after", "", "end the run STOPPED after STEP")
	f.BoolVar(&o.resume, "resume", false, "continue the node's unfinished run at its first job that is not OK")
	f.StringVar(&o.from, "from", "", "continue the node's unfinished run at STEP instead")
	f.BoolVar(&o.forcePlanChange, "force-plan-change", false, "resume even though the plan changed since the run began")
	f.IntVar(&o.parallel, "parallel", 8, "deploy to at most N nodes at once")
	f.StringVar(&o.batch, "batch", "", "roll out in batches: N, N% or a list such as 1,25%,100%, the last repeating; a batch starts when the one before ended")
	f.StringVar(&o.maxFail, "max-fail", "", "stop the rollout once more than N (or N%) nodes failed: no node starts, running ones stop at their next job (default 0)")
	limitFlag(f, &o.limit)
	f.BoolVar(&o.json, "json", false, "print one JSON object per event on stdout (docs/json.md), for CI")
	f.BoolVar(&o.dryRun, "dry-run", false, "change nothing: connect, check the lock, agent, space and sudo, and say what each step would do, with a diff for templates (as conc check)")
	o.sudo.register(cmd, "step")
}

func (a *app) deployCmd() *cobra.Command {
	o := &deployOptions{plan: "deploy"}
	cmd := &cobra.Command{
		Use:   "deploy NODE|GROUP...",
		Short: "run the plan named deploy on nodes",
		Long: `Run the plan [plan deploy] on each node, job by job. The run stops at the
first job that is not OK and prints what it left and how to continue.

A run can be stopped on purpose: --step asks before each job, --stop-before
and --stop-after end it at a step (see conc plan for the numbers), and Ctrl-C
stops the running job. The bundle stays on the node, so you can look into it
(conc bundle, conc ssh), fix it, and continue with --resume, which picks up
at the first job that is not OK, from any terminal, days later.`,
		Example: "  conc deploy node1\n  conc deploy node1 --stop-after copy_product\n  conc deploy node1 --resume\n  conc -f site.ini deploy web --parallel 4\n  conc deploy web --batch 1,25%,100% --max-fail 1\n  conc deploy web --limit 'web*,!web3' --json",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr(errors.New("deploy needs a node or group (conc deploy NODE)"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.targets = args
			return a.runPlan(cmd.Context(), o, "deploy")
		},
	}
	o.flags(cmd)
	return cmd
}

func (a *app) runCmd() *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:     "run PLAN NODE|GROUP...",
		Short:   "run any plan on nodes",
		Example: "  conc run rollback node1",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErr(errors.New("run needs a plan and a node (conc run PLAN NODE)"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.plan, o.targets = args[0], args[1:]
			return a.runPlan(cmd.Context(), o, "run "+jobs.Quote(o.plan))
		},
	}
	o.flags(cmd)
	return cmd
}

func (a *app) checkCmd() *cobra.Command {
	o := &deployOptions{plan: "deploy", dryRun: true}
	cmd := &cobra.Command{
		Use:   "check NODE|GROUP...",
		Short: "preflight: say what a deploy would do, changing nothing on the nodes",
		Long: `Connect to each node as a deploy would and check what it needs, changing
nothing there: the host key and login, the lock (free or held, and by whom),
the agent (cached, or to be uploaded), free space for what would be copied,
sudo, commands and venvs the steps need, and local files. Then list each step
as it would run, with what it would copy and, for a template, whether the
node's file would change, with a diff. The exit codes are a run's: 0 every
step would run, 3 a node is locked, 1 a check failed. conc deploy --dry-run
is the same; conc check --plan PLAN checks another plan.`,
		Example: "  conc check node1\n  conc check web --plan upgrade -p release=1.5",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr(errors.New("check needs a node or group (conc check NODE)"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.targets = args
			return a.runPlan(cmd.Context(), o, "check")
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.plan, "plan", "deploy", "the plan to check")
	f.IntVar(&o.parallel, "parallel", 8, "check at most N nodes at once")
	limitFlag(f, &o.limit)
	f.BoolVar(&o.json, "json", false, "print one JSON object per event on stdout (docs/json.md)")
	o.sudo.register(cmd, "step")
	return cmd
}

// runPlan loads and checks everything, asks for secrets, then runs.
func (a *app) runPlan(ctx context.Context, o *deployOptions, verb string) error {
	if o.dryRun && verb != "check" {
		if o.resume || o.from != "" || o.step {
			return usageErr(errors.New("--dry-run previews a whole new run; it does not go with --resume, --from or --step"))
		}
		verb += " --dry-run" // the recap's commands preview again
	}
	f, nodes, err := a.loadTargets(o.targets, o.limit)
	if err != nil {
		return err
	}
	rollout, err := rollout.Of(f, o.targets, o.batch, o.maxFail)
	if err != nil {
		return usageErr(err)
	}
	log, logFile, agents, err := a.logger()
	if err != nil {
		return err
	}
	rep := runreport.NewReporterWith(runreport.ReporterConfig{Out: a.stdout, Err: a.stderr, Log: logFile,
		Verbose: a.verbose, Color: a.colors(a.stdout), JSON: o.json})
	defer rep.Close()
	opts := &deploy.Options{
		Ops:  ops,
		File: f, Plan: o.plan, Agents: agents, Reporter: rep, Log: log, Verbose: a.verbose,
		StateDir: a.stateDir, Parallel: o.parallel, Rollout: rollout, Invocation: a.invocation(), Verb: verb,
		Dial:   a.dialOptions(),
		Resume: o.resume, From: o.from, ForcePlanChange: o.forcePlanChange,
		StopBefore: o.stopBefore, StopAfter: o.stopAfter, DryRun: o.dryRun,
	}
	// In order with the job lines, and never under the live block.
	opts.Dial.Recorded = func(k sshconn.HostKey) { rep.Printf("conc: recorded the host key of %s", k) }
	if o.step {
		in, ok := a.terminalIn()
		if !ok {
			return usageErr(errors.New("--step asks before each job, and stdin is not a terminal; use --stop-before/--stop-after to stop unattended"))
		}
		opts.Step = &prompt.Stepper{Ctx: ctx, In: bufio.NewReader(in), Out: a.stderr}
		opts.Parallel = 1 // one node's questions at a time
	}
	if len(nodes) == 1 && isTerminal(a.stderr) {
		opts.Terminal = a.stderr
	}
	d, err := deploy.New(opts, nodes)
	if err != nil {
		return usageErr(err)
	}
	if opts.Sudo, err = o.sudo.password(a, d.NeedsSudo()); err != nil {
		return err
	}
	code := d.Run(ctx)
	rep.Close() // the recap is the last thing printed
	log.Debug().Int64("max_rss_kb", jobs.PeakRSSKB()).Int("exit", code).Msg("conc done")
	if code != jobs.ExitOK {
		return &exitError{code: code}
	}
	return nil
}
