package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"encoding/json"
	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
	"github.com/rs/zerolog"
	"os"
	"sync"
	"syscall"
)

// start registers a job as running, so that a cancel can reach it, and
// returns its context and the func to call when it is over. A run-ahead
// job that arrives while one of its group runs is queued (errQueued); one
// its group dropped is answered at once (errQueued too).
func (a *Agent) start(ctx context.Context, r *channel.Run) (context.Context, func(), error) {
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		return nil, nil, errStopping
	}
	if a.keeper != nil {
		for _, e := range bundle.EntriesFromWire(r.Journal) {
			a.keeper.record(e)
		}
	}
	switch {
	case a.running != nil && r.Chain != 0 && r.Chain == a.running.chain:
		// Queued even if dropped already: its answer comes after those
		// of the jobs before it, in order.
		a.queue = append(a.queue, r)
		a.mu.Unlock()
		return nil, nil, errQueued
	case a.drop.drops(r):
		a.mu.Unlock()
		a.sendDropped(r)
		return nil, nil, errQueued
	case a.running != nil:
		id := a.running.id
		a.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: run %d while job %d runs", channel.ErrUnexpected, r.ID, id)
	}
	defer a.mu.Unlock()
	jctx, done := a.register(ctx, r)
	return jctx, done, nil
}

// register makes r the running job; a.mu is held.
func (a *Agent) register(ctx context.Context, r *channel.Run) (context.Context, func()) {
	jctx, cancel := context.WithCancelCause(ctx)
	a.running = &running{id: r.ID, chain: r.Chain, cancel: cancel}
	a.jobs.Add(1)
	return jctx, func() {
		cancel(nil)
		a.jobs.Done()
	}
}

func (a *Agent) sendDropped(r *channel.Run) {
	a.send(&channel.Message{Type: channel.TResult, Result: &channel.Result{ID: r.ID, Dropped: true}})
}

// run prepares and executes the job.
func (a *Agent) run(ctx context.Context, r *channel.Run) *channel.Result {
	start := time.Now()
	var stream io.Writer
	if a.hello.Verbose {
		stream = &outputWriter{a: a, id: r.ID}
	}
	tail := jobs.NewTail(stream)
	var res jobs.Result
	act, err := a.opt.Ops.Prepare(jobs.Job{Host: jobs.Remote, Op: r.Op, Args: r.Args})
	if ir, ok := act.(jobs.InputReceiver); ok && err == nil {
		act, err = ir.WithInput(r.Input)
	}
	if ferr := a.fence(); ferr != nil {
		res = jobs.Resultf(jobs.Error, "%s", lostMessage(ferr))
	} else if err != nil {
		res = jobs.Resultf(jobs.Error, "%v", err)
	} else {
		env := &remoteEnv{a: a, id: r.ID, step: r.Step, op: r.Op, out: tail}
		done := a.markRunning(r.Step, r.Op, start)
		res = jobs.Execute(ctx, act, env, time.Duration(r.Timeout))
		done()
	}
	out := &channel.Result{
		ID: r.ID, Status: string(res.Status), Message: res.Message,
		ExitCode: res.ExitCode, Duration: int64(time.Since(start)),
		Lost: a.lost.Load() || errors.Is(context.Cause(ctx), ErrEvicted),
	}
	if res.Status != jobs.OK || a.hello.Verbose {
		out.Output = tail.Bytes()
	}
	return out
}

// finish sends the result, then journals it, and returns the next
// run-ahead job of r's group to run, registered as running, or nil. A
// job that was not OK drops the rest of its group, each answered as
// dropped; so does a stopping agent, without answers.
func (a *Agent) finish(ctx context.Context, r *channel.Run, res *channel.Result) (*channel.Run, context.Context, func()) {
	a.mu.Lock()
	a.running = nil
	if r.Chain != 0 && res.Status != string(jobs.OK) {
		a.drop = dropMark{chain: r.Chain, from: r.ID + 1}
	}
	var next *channel.Run
	var dropped []*channel.Run
	var jctx context.Context
	var done func()
	for len(a.queue) > 0 && next == nil {
		q := a.queue[0]
		a.queue = a.queue[1:]
		switch {
		case a.stopping:
		case a.drop.drops(q):
			dropped = append(dropped, q)
		default:
			next = q
			jctx, done = a.register(ctx, q)
		}
	}
	a.mu.Unlock()
	a.send(&channel.Message{Type: channel.TResult, Result: res})
	if _, k := a.held(); k != nil {
		k.record(bundle.Entry{
			Step: r.Step, Seq: r.Seq, Host: string(jobs.Remote), Op: r.Op, Status: res.Status,
			Message: res.Message, Duration: bundle.Duration(res.Duration), Ended: a.opt.Now(),
		})
	}
	for _, d := range dropped {
		a.sendDropped(d)
	}
	return next, jctx, done
}

// cancel stops the job c names, or for a run-ahead group the group's job
// running now if it is c.ID or later, and drops the group's jobs from c.ID
// on; with c.Drop it only drops them.
func (a *Agent) cancel(c *channel.Cancel) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.Chain != 0 {
		a.drop = dropMark{chain: c.Chain, from: c.ID}
	}
	r := a.running
	if c.Drop || r == nil {
		return
	}
	if r.id == c.ID || c.Chain != 0 && r.chain == c.Chain && r.id >= c.ID {
		r.cancel(jobs.ErrCanceled)
	}
}

// outputWriter streams a job's output to the controller in chunks.
type outputWriter struct {
	a  *Agent
	id uint32
}

const maxChunk = 32 << 10

func (w *outputWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += maxChunk {
		chunk := p[off:min(off+maxChunk, len(p))]
		m := &channel.Message{Type: channel.TOutput, Output: &channel.Output{ID: w.id, Stream: channel.Stdout, Data: chunk}}
		if err := w.a.send(m); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

// remoteEnv is a remote job's view of the node.
type remoteEnv struct {
	a    *Agent
	id   uint32 // the run's id, for events
	out  io.Writer
	step int
	op   string
	log  *zerolog.Logger // made on first use: most jobs never log
}

var (
	_ jobs.Env           = (*remoteEnv)(nil)
	_ jobs.BundleRemover = (*remoteEnv)(nil)
	_ jobs.EventEmitter  = (*remoteEnv)(nil)
)

func (e *remoteEnv) Host() jobs.Host           { return jobs.Remote }
func (e *remoteEnv) Node() string              { return e.a.hello.Node }
func (e *remoteEnv) Params() map[string]string { return e.a.hello.Params }
func (e *remoteEnv) Home() string              { return e.a.home }
func (e *remoteEnv) Bundle() string            { return e.a.bundle }
func (e *remoteEnv) Output() io.Writer         { return e.out }
func (e *remoteEnv) SudoPassword() []byte      { return e.a.hello.Sudo }

// Log is the agent's logger with the job's step and op.
func (e *remoteEnv) Log() *zerolog.Logger {
	if e.log == nil {
		l := e.a.log.With().Int("step", e.step).Str("op", e.op).Logger()
		e.log = &l
	}
	return e.log
}
func (e *remoteEnv) Remote(context.Context) (jobs.RemoteFS, error) {
	return nil, fmt.Errorf("no SFTP on the node side")
}

// Dir is the bundle the agent holds, which the fence checked just before
// the job began. Only a session that holds no bundle, as node tests, works
// in the home directory: a run never falls back to it.
func (e *remoteEnv) Dir() string {
	if e.a.bundle != "" {
		return e.a.bundle
	}
	return e.a.home
}

func (e *remoteEnv) Exec(ctx context.Context, c jobs.Command) (int, error) {
	if c.Stdout == nil {
		c.Stdout = e.out
	}
	if c.Stderr == nil {
		c.Stderr = e.out
	}
	c.Env = append(c.Env, "CONC_NODE="+e.a.hello.Node, "CONC_BUNDLE="+e.a.bundle)
	return e.a.procs.Exec(ctx, c)
}

// Emit implements jobs.EventEmitter: an event goes to the controller at
// once, whatever the verbosity.
func (e *remoteEnv) Emit(data []byte) {
	m := &channel.Message{Type: channel.TOutput, Output: &channel.Output{ID: e.id, Stream: channel.Event, Data: data}}
	e.a.send(m)
}

// RemoveBundle implements jobs.BundleRemover: close_bundle removes the
// bundle this agent holds, and no other.
func (e *remoteEnv) RemoveBundle() error { return e.a.removeBundle() }

// runningAfter is how long a job runs before the agent writes it down for
// conc status: quick jobs, most of them, never pay for the write.
const runningAfter = time.Second

// markRunning writes RunningFile in the bundle once the job has run for
// runningAfter, and the returned func removes it when the job ends.
func (a *Agent) markRunning(step int, op string, since time.Time) (done func()) {
	h, _ := a.held()
	if h == nil {
		return func() {}
	}
	var mu sync.Mutex
	ended, written := false, false
	t := time.AfterFunc(runningAfter, func() {
		mu.Lock()
		defer mu.Unlock()
		if ended || h.check() != nil {
			return
		}
		b, _ := json.Marshal(bundle.Running{Step: step, Op: op, Since: since})
		f, err := h.root.OpenFile(bundle.RunningFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
		if err == nil {
			_, err = f.Write(b)
			f.Close()
		}
		written = err == nil
	})
	return func() {
		t.Stop()
		mu.Lock()
		defer mu.Unlock()
		ended = true
		if written {
			h.root.Remove(bundle.RunningFile)
		}
	}
}
