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
// returns its context and the func to call when it is over.
func (a *Agent) start(ctx context.Context, r *channel.Run) (context.Context, func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running != nil {
		return nil, nil, fmt.Errorf("%w: run %d while job %d runs", channel.ErrUnexpected, r.ID, a.running.id)
	}
	if a.stopping {
		return nil, nil, errStopping
	}
	if a.keeper != nil {
		for _, e := range bundle.EntriesFromWire(r.Journal) {
			a.keeper.record(e)
		}
	}
	jctx, cancel := context.WithCancelCause(ctx)
	a.running = &running{id: r.ID, cancel: cancel}
	a.jobs.Add(1)
	return jctx, func() {
		cancel(nil)
		a.jobs.Done()
	}, nil
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

// finish sends the result, then journals it.
func (a *Agent) finish(r *channel.Run, res *channel.Result) {
	a.mu.Lock()
	a.running = nil
	a.mu.Unlock()
	a.send(&channel.Message{Type: channel.TResult, Result: res})
	if _, k := a.held(); k != nil {
		k.record(bundle.Entry{
			Step: r.Step, Seq: r.Seq, Host: string(jobs.Remote), Op: r.Op, Status: res.Status,
			Message: res.Message, Duration: bundle.Duration(res.Duration), Ended: a.opt.Now(),
		})
	}
}

func (a *Agent) cancel(id uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running != nil && a.running.id == id {
		a.running.cancel(jobs.ErrCanceled)
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
