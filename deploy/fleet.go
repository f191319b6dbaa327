package deploy

import (
	"context"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/rollout"
	"github.com/concdeploy/conc/runreport"
)

// Run runs the plan on every node, batch by batch, at most opts.Parallel
// at a time, and returns conc's exit code: the most severe of the nodes'.
// ctx is the operator's: when it is canceled with jobs.ErrCanceled
// (Ctrl-C), running jobs end STOPPED and no node starts.
func (d *Deploy) Run(ctx context.Context) int {
	limit := d.opts.Parallel
	if limit <= 0 {
		limit = 8
	}
	state := &rollout.State{Limit: d.opts.Rollout.MaxFail.Of(len(d.runs))}
	names := d.names()
	d.opts.Reporter.Start(runreport.RunStart{Plan: d.opts.Plan, Nodes: names, Command: strings.TrimSpace(d.opts.Invocation + " " + d.opts.Verb), Grouped: len(names) > 1 && limit > 1,
		Live: d.opts.Step == nil && !d.opts.Verbose})
	for _, b := range d.opts.Rollout.Split(len(d.runs)) {
		var g errgroup.Group
		g.SetLimit(limit)
		for _, r := range d.runs[b[0]:b[1]] {
			r.rollout = state
			g.Go(func() error {
				if ctx.Err() != nil || state.Halted() != "" {
					return nil // never started: the recap says so
				}
				r.out.Start()
				run := r.run
				if d.opts.DryRun {
					run = r.preflight
				}
				status := run(ctx)
				r.out.End(status)
				if (rollout.Failing(status) || r.usage) && !d.opts.DryRun {
					// A preflight's failure stops no rollout: it
					// checks every node.
					r.countFailure()
				}
				d.opts.Reporter.NodeEnd(r.node.Name, r.out)
				return nil
			})
		}
		g.Wait()
	}
	code := jobs.ExitOK
	halted := state.Halted()
	outs := make([]runreport.Outcome, len(d.runs))
	for i, r := range d.runs {
		c := r.out.Status.ExitCode()
		switch {
		case r.usage:
			c = jobs.ExitUsage
		case !r.out.Ran && ctx.Err() != nil:
			// Ctrl-C kept it from starting: stopped, not done.
			c = jobs.ExitStopped
			if halted == "" {
				halted = "the operator stopped the run (Ctrl-C)"
			}
		case !r.out.Ran:
			c = jobs.ExitOK
		}
		code = jobs.WorseExit(code, c)
		outs[i] = r.out
	}
	if len(d.runs) == 1 && !d.runs[0].out.Ran && halted != "" {
		d.opts.Reporter.Printf("%s: not started: %s; nothing was done on it", d.runs[0].node.Name, halted)
	}
	d.opts.Reporter.Recap(outs, halted, code)
	return code
}

func (d *Deploy) names() []string {
	names := make([]string, len(d.runs))
	for i, r := range d.runs {
		names[i] = r.node.Name
	}
	return names
}

// countFailure counts the node's run as failed, once: as soon as the run
// halts, before it lets go of the node, so that the other nodes stop at
// their next job.
func (n *nodeRun) countFailure() {
	if !n.failCounted && n.rollout != nil {
		n.failCounted = true
		n.rollout.Fail(n.node.Name)
	}
}
