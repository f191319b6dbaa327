package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
)

// Size is a count of nodes, or a percentage of a run's nodes.
type Size struct {
	N       int
	Percent bool
}

// ParseSize reads N or N%.
func ParseSize(s string) (Size, error) {
	num, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || pct && n > 100 {
		return Size{}, fmt.Errorf("%q is not a count of nodes (N) or a percentage of them (N%%, at most 100%%)", s)
	}
	return Size{N: n, Percent: pct}, nil
}

// ParseBatches reads a --batch: sizes separated by commas, the last of
// which repeats until every node had its turn (1,25%,100%: one node, then
// a quarter, then the rest).
func ParseBatches(s string) ([]Size, error) {
	var out []Size
	for _, f := range strings.Split(s, ",") {
		z, err := ParseSize(f)
		if err != nil {
			return nil, fmt.Errorf("batch %w", err)
		}
		if z.N == 0 {
			return nil, fmt.Errorf("batch %q: a batch of no nodes never ends", f)
		}
		out = append(out, z)
	}
	return out, nil
}

// Of is the size out of total nodes; a percentage rounds down.
func (z Size) Of(total int) int {
	if !z.Percent {
		return z.N
	}
	return z.N * total / 100
}

func (z Size) String() string {
	if z.Percent {
		return fmt.Sprintf("%d%%", z.N)
	}
	return strconv.Itoa(z.N)
}

// Rollout makes a run over many nodes a rolling one: batches that start
// only when the one before has ended, and a limit of failed nodes past
// which no node starts and running ones stop at their next job.
type Rollout struct {
	Batches []Size // each batch's size, the last repeating; none: one batch
	MaxFail Size   // failed nodes tolerated; the zero Size tolerates none
}

// batches splits n nodes into the rollout's batches, as index ranges.
func (r Rollout) batches(n int) [][2]int {
	if len(r.Batches) == 0 {
		return [][2]int{{0, n}}
	}
	var out [][2]int
	for i, start := 0, 0; start < n; i++ {
		size := r.Batches[min(i, len(r.Batches)-1)].Of(n)
		size = max(size, 1)
		end := min(start+size, n)
		out = append(out, [2]int{start, end})
		start = end
	}
	return out
}

// rolloutState is shared by a run's nodes: how many failed, and whether
// that stopped the rollout.
type rolloutState struct {
	limit int // failures tolerated

	mu     sync.Mutex
	failed []string
}

// fail counts a failed node.
func (s *rolloutState) fail(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = append(s.failed, node)
}

// halted says why the rollout stopped, or "" while it goes on.
func (s *rolloutState) halted() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failed) <= s.limit {
		return ""
	}
	return fmt.Sprintf("the rollout stopped: %d node(s) failed (%s), more than --max-fail %d",
		len(s.failed), strings.Join(s.failed, ", "), s.limit)
}

// countFailure counts the node's run as failed, once: as soon as the run
// halts, before it lets go of the node, so that the other nodes stop at
// their next job.
func (n *nodeRun) countFailure() {
	if !n.failCounted && n.rollout != nil {
		n.failCounted = true
		n.rollout.fail(n.node.Name)
	}
}

// failing reports whether a node's end counts against --max-fail: it did
// not reach the end of the plan and nobody asked it to stop there.
func failing(st jobs.Status) bool {
	return st != jobs.OK && st != jobs.Stopped
}

// Run runs the plan on every node, batch by batch, at most opts.Parallel
// at a time, and returns conc's exit code: the most severe of the nodes'.
// ctx is the operator's: when it is canceled with jobs.ErrCanceled
// (Ctrl-C), running jobs end STOPPED and no node starts.
func (d *Deploy) Run(ctx context.Context) int {
	limit := d.opts.Parallel
	if limit <= 0 {
		limit = 8
	}
	state := &rolloutState{limit: d.opts.Rollout.MaxFail.Of(len(d.runs))}
	names := d.names()
	d.opts.Reporter.Start(RunStart{Plan: d.opts.Plan, Nodes: names, Command: strings.TrimSpace(d.opts.Invocation + " " + d.opts.Verb), Grouped: len(names) > 1 && limit > 1,
		Live: len(names) > 1 && d.opts.Step == nil})
	for _, b := range d.opts.Rollout.batches(len(d.runs)) {
		var g errgroup.Group
		g.SetLimit(limit)
		for _, r := range d.runs[b[0]:b[1]] {
			r.rollout = state
			g.Go(func() error {
				if ctx.Err() != nil || state.halted() != "" {
					return nil // never started: the recap says so
				}
				r.out.started = time.Now()
				status := r.run(ctx)
				r.out.ended(status)
				if failing(status) || r.usage {
					r.countFailure()
				}
				d.opts.Reporter.NodeEnd(r.node.Name, r.out)
				return nil
			})
		}
		g.Wait()
	}
	code := jobs.ExitOK
	outs := make([]Outcome, len(d.runs))
	for i, r := range d.runs {
		c := r.out.Status.ExitCode()
		switch {
		case r.usage:
			c = jobs.ExitUsage
		case !r.out.Ran:
			c = jobs.ExitOK
		}
		code = jobs.WorseExit(code, c)
		outs[i] = r.out
	}
	d.opts.Reporter.Recap(outs, state.halted(), code)
	return code
}

func (d *Deploy) names() []string {
	names := make([]string, len(d.runs))
	for i, r := range d.runs {
		names[i] = r.node.Name
	}
	return names
}

// Outcome is how a node's run ended, for the recap.
type Outcome struct {
	Node     string
	Ran      bool        // false: the rollout stopped before it started
	Status   jobs.Status // how it ended
	Step     int         // the last step that ran, 0 if none
	Steps    int
	Op       string // that step's op
	Message  string // why it ended, when not OK
	Duration time.Duration
	// Resumable: the run left the node locked by a journal --resume
	// continues.
	Resumable bool
	At        bool // the run ended at Step, not after it


	started time.Time
}

// job notes a job's end.
func (o *Outcome) job(step int, op string, res jobs.Result) {
	o.Step, o.Op, o.At = step, op, res.Status != jobs.OK
	if o.At {
		o.Message = res.Message
	}
}

func (o *Outcome) ended(st jobs.Status) {
	o.Ran, o.Status, o.Duration = true, st, time.Since(o.started)
}

// RolloutOf resolves a run's rollout: the flags batch and maxFail when
// given, else what the groups among targets set (batch, max_fail), else
// one batch that stops at the first failure.
func RolloutOf(f *config.File, targets []string, batch, maxFail string) (Rollout, error) {
	var r Rollout
	where := "--batch"
	if batch == "" {
		p, err := f.GroupSetting(targets, config.KeyBatch)
		if err != nil {
			return r, err
		}
		batch, where = p.Value, p.Pos.String()+": batch"
	}
	if batch != "" {
		b, err := ParseBatches(batch)
		if err != nil {
			return r, fmt.Errorf("%s: %w", where, err)
		}
		r.Batches = b
	}
	where = "--max-fail"
	if maxFail == "" {
		p, err := f.GroupSetting(targets, config.KeyMaxFail)
		if err != nil {
			return r, err
		}
		maxFail, where = p.Value, p.Pos.String()+": max_fail"
	}
	if maxFail != "" {
		m, err := ParseSize(maxFail)
		if err != nil {
			return r, fmt.Errorf("%s: %w", where, err)
		}
		r.MaxFail = m
	}
	return r, nil
}
