package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
)

// Grace periods for the agent's answers.
const (
	cancelGrace = 15 * time.Second // from cancel to the STOPPED result
	resultGrace = 30 * time.Second // past a job's own timeout
	byeTimeout  = 10 * time.Second
)

// remote is the controller's end of a running agent.
type remote struct {
	start *agentStart
	ready *channel.Ready

	onOutput func(id uint32, stream int, data []byte)

	mu      sync.Mutex
	nextID  uint32
	pending []bundle.Entry // journal entries of local jobs, sent with the next message

	results chan *channel.Result
	byes    chan struct{}
	done    chan struct{} // closed when the reader stops
	err     error         // why the reader stopped
}

// openRemote starts the agent and completes the handshake. ready.Status
// may be BLOCKED; the caller decides.
func openRemote(ctx context.Context, c *Conn, agents Agents, hello *channel.Hello, logLine func(string), onOutput func(uint32, int, []byte)) (*remote, error) {
	st, err := startAgent(ctx, c.Client, agents, &channel.Message{Type: channel.THello, Hello: hello}, logLine)
	if err != nil {
		return nil, err
	}
	m, err := recvTimeout(ctx, st, bootTimeout)
	if err != nil {
		st.sess.Close()
		return nil, st.fail(ctx, fmt.Errorf("wait for the agent's ready: %w", err))
	}
	if m.Type != channel.TReady {
		st.sess.Close()
		return nil, fmt.Errorf("%w: %s instead of ready", channel.ErrUnexpected, m.Type)
	}
	ready := m.Ready
	if err := channel.CheckVersion(ready.Version); err != nil {
		st.sess.Close()
		return nil, err
	}
	if want, ok := agents[ready.Arch]; !ok || want.Hash != ready.Agent {
		st.sess.Close()
		return nil, fmt.Errorf("the agent on %s has sha256 %.12s, not the %s agent this conc carries; remove ~/%s on the node and run again",
			c.Target.Name, ready.Agent, ready.Arch, bundle.CacheDir)
	}
	r := &remote{
		start: st, ready: ready, onOutput: onOutput,
		results: make(chan *channel.Result, 1), byes: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if ready.Status == string(jobs.OK) {
		go r.read()
	}
	return r, nil
}

// recvTimeout receives one message, closing the session if none comes in
// time.
func recvTimeout(ctx context.Context, st *agentStart, d time.Duration) (*channel.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { st.sess.Close() })
	defer stop()
	m, err := st.conn.Recv()
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w (no answer in %s)", err, d)
	}
	return m, err
}

// read dispatches the agent's messages until the channel ends.
func (r *remote) read() {
	defer close(r.done)
	for {
		m, err := r.start.conn.Recv()
		if err != nil {
			r.err = err
			return
		}
		switch m.Type {
		case channel.TResult:
			r.results <- m.Result
		case channel.TOutput:
			if r.onOutput != nil {
				r.onOutput(m.Output.ID, m.Output.Stream, m.Output.Data)
			}
		case channel.TLog:
			r.start.stderr.Write([]byte(m.Log.Message + "\n"))
		case channel.TBye:
			r.byes <- struct{}{}
			return
		default:
			r.err = fmt.Errorf("%w: %s from the agent", channel.ErrUnexpected, m.Type)
			r.start.sess.Close()
			return
		}
	}
}

// journal queues a local job's entry for the lock record.
func (r *remote) journal(e bundle.Entry) {
	r.mu.Lock()
	r.pending = append(r.pending, e)
	r.mu.Unlock()
}

func (r *remote) takePending() []bundle.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending
	r.pending = nil
	return p
}

// remoteResult is a job's result as the agent reported it.
type remoteResult struct {
	jobs.Result
	Duration time.Duration
}

// run sends one job and waits for its result. When ctx ends (the operator
// pressed Ctrl-C) it sends cancel and waits for the STOPPED result.
func (r *remote) run(ctx context.Context, step int, j jobs.Job, input []byte) remoteResult {
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.mu.Unlock()
	msg := &channel.Message{Type: channel.TRun, Run: &channel.Run{
		ID: id, Step: step, Op: j.Op, Args: j.Args, Timeout: int64(j.Timeout), Input: input, Journal: r.takePending(),
	}}
	if err := r.start.conn.Send(msg); err != nil {
		return r.lost(err)
	}
	var deadline <-chan time.Time
	if j.Timeout > 0 {
		t := time.NewTimer(j.Timeout + resultGrace)
		defer t.Stop()
		deadline = t.C
	}
	ctxDone := ctx.Done()
	for {
		select {
		case res := <-r.results:
			if res.ID != id {
				continue // the late answer to an abandoned job
			}
			return remoteResult{
				Result:   jobs.Result{Status: jobs.Status(res.Status), Message: res.Message, ExitCode: res.ExitCode, Output: res.Output},
				Duration: time.Duration(res.Duration),
			}
		case <-r.done:
			return r.lost(r.err)
		case <-ctxDone:
			ctxDone = nil
			if err := r.start.conn.Send(&channel.Message{Type: channel.TCancel, Cancel: &channel.Cancel{ID: id}}); err != nil {
				return r.lost(err)
			}
			t := time.NewTimer(cancelGrace)
			defer t.Stop()
			deadline = t.C
		case <-deadline:
			r.start.sess.Close()
			return remoteResult{Result: jobs.Resultf(jobs.Error, "the agent did not answer in time; the session was closed, which makes the agent kill the job")}
		}
	}
}

func (r *remote) lost(err error) remoteResult {
	msg := "the connection to the agent was lost"
	if err != nil && !errors.Is(err, errAgentGone) {
		msg += ": " + err.Error()
	}
	if tail := r.start.stderr.Bytes(); len(tail) > 0 {
		return remoteResult{Result: jobs.Result{Status: jobs.Error, Message: msg, Output: tail}}
	}
	return remoteResult{Result: jobs.Result{Status: jobs.Error, Message: msg}}
}

// close says bye with the last journal entries, waits briefly for the
// agent's bye (it writes the lock record first), and closes the session.
func (r *remote) close() {
	defer r.start.sess.Close()
	if r.ready.Status != string(jobs.OK) {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	msg := &channel.Message{Type: channel.TBye, Bye: &channel.Bye{Journal: r.takePending()}}
	if r.start.conn.Send(msg) != nil {
		return
	}
	select {
	case <-r.byes:
	case <-r.done:
	case <-time.After(byeTimeout):
	}
}
