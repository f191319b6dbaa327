// Package agentclient is the workstation's end of the agent: it starts the
// agent on a node in one SSH exec, uploading it when the node's cache lacks
// it, checks that the agent is the one conc carries, and speaks the channel
// to it as its client: hello and ready, jobs and their results, fences,
// cancels and bye.
package agentclient

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/sshconn"
)

// Grace periods for the agent's answers.
const (
	cancelGrace = 15 * time.Second // from cancel to the STOPPED result
	resultGrace = 30 * time.Second // past a job's own timeout
	byeTimeout  = 10 * time.Second
)

// Client is the controller's end of a running agent. It is used by one
// goroutine, the node's work loop, which also reads the channel while it
// waits for a result: no reader goroutine stands between the agent's answer
// and the next job.
type Client struct {
	start *agentStart
	ready *channel.Ready

	onOutput func(id uint32, stream int, data []byte)

	nextID  uint32
	chains  map[uint32]uint32 // the run-ahead group of each job sent ahead and not yet answered
	pending []bundle.Entry    // journal entries of jobs run here, sent with the next message
	dead    error             // why the channel can no longer be used
	maxRSS  int64             // the agent's peak RSS in KiB, from its bye

	// gone ends when the agent's session does: the agent held the
	// bundle, and without it the bundle may be another run's. It costs no
	// reader between jobs: the session's own wait ends when the agent
	// exits.
	gone context.Context
	// bundleLost is set when the agent said the bundle at its path is not
	// the one it holds: the run no longer holds the node.
	bundleLost bool
}

// Open starts the agent and completes the handshake. ready.Status
// may be BLOCKED; the caller decides.
func Open(ctx context.Context, c *sshconn.Conn, agents Agents, hello *channel.Hello, logLine func(string), onOutput func(uint32, int, []byte)) (*Client, error) {
	r, _, err := OpenAhead(ctx, c, agents, hello, logLine, onOutput, nil)
	return r, err
}

// OpenAhead is Open that sends jobs as a run-ahead group with the hello,
// in the same flight as the exec that starts the agent: over a slow link
// the first jobs cost no round trip of their own. The agent reads them
// only once it has answered ready OK; an agent that answers otherwise
// exits, and they never run. It returns the jobs' IDs, for Wait.
func OpenAhead(ctx context.Context, c *sshconn.Conn, agents Agents, hello *channel.Hello, logLine func(string), onOutput func(uint32, int, []byte), ahead []Job) (*Client, []uint32, error) {
	prelude := []*channel.Message{{Type: channel.THello, Hello: hello}}
	ids := make([]uint32, len(ahead))
	for i, j := range ahead {
		ids[i] = uint32(i + 1)
		prelude = append(prelude, &channel.Message{Type: channel.TRun, Run: &channel.Run{ID: ids[i], Step: j.Step, Seq: j.Seq,
			Op: j.Job.Op, Args: j.Job.Args, Timeout: int64(j.Job.Timeout), Input: j.Input, Chain: 1}})
	}
	r, err := open(ctx, c, agents, prelude, logLine, onOutput, false)
	if err != nil || len(ahead) == 0 {
		return r, nil, err
	}
	r.nextID = uint32(len(ahead))
	for _, id := range ids {
		r.chains[id] = 1
	}
	return r, ids, nil
}

// OpenCached is Open for an agent the node has cached: when it has none,
// it uploads nothing and returns a *NotCachedError.
func OpenCached(ctx context.Context, c *sshconn.Conn, agents Agents, hello *channel.Hello, logLine func(string)) (*Client, error) {
	return open(ctx, c, agents, []*channel.Message{{Type: channel.THello, Hello: hello}}, logLine, nil, true)
}

func open(ctx context.Context, c *sshconn.Conn, agents Agents, prelude []*channel.Message, logLine func(string), onOutput func(uint32, int, []byte), cachedOnly bool) (*Client, error) {
	st, err := startAgent(ctx, c.Client, agents, loadStamps(c.Target), prelude, logLine, cachedOnly)
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
	if h, stamp, ok := strings.Cut(st.verified, " "); ok && h == ready.Agent {
		// The next boot runs this file without hashing it, while it is
		// unchanged. A stamp that cannot be kept only costs a hash.
		if err := saveStamp(c.Target, h, stamp); err != nil && logLine != nil {
			logLine("keep the agent's stamp: " + err.Error())
		}
	}
	r := &Client{start: st, ready: ready, onOutput: onOutput, chains: map[uint32]uint32{}}
	gone, lost := context.WithCancelCause(context.Background())
	r.gone = gone
	go func() {
		st.sess.Wait()
		lost(fmt.Errorf("the agent that holds this run's bundle on %s ended (the connection was cut, or conc unlock --force stopped it): the bundle may be another run's now", c.Target.Name))
	}()
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

// Journal queues the entry of a job the controller ran, for the lock
// record.
func (r *Client) Journal(e bundle.Entry) { r.pending = append(r.pending, e) }

func (r *Client) takePending() []bundle.Entry {
	p := r.pending
	r.pending = nil
	return p
}

// Result is a job's result as the agent reported it.
type Result struct {
	jobs.Result
	Duration time.Duration
	// Dropped: the job of a run-ahead group never started on the node,
	// because a job before it was not OK or a cancel dropped it.
	Dropped bool
}

// Job is a job to send to the agent: a plan's step, its place in the
// run's journal, and its input.
type Job struct {
	Step  int
	Seq   int64
	Job   jobs.Job
	Input []byte
}

// Run sends one job and waits for its result, passing output on as it
// comes. When ctx ends (the operator pressed Ctrl-C) it sends cancel and
// waits for the STOPPED result; an agent that does not answer in time has
// its session closed, which makes it kill the job.
func (r *Client) Run(ctx context.Context, step int, seq int64, j jobs.Job, input []byte) Result {
	ids, err := r.send([]Job{{Step: step, Seq: seq, Job: j, Input: input}}, false)
	if err != nil {
		return Result{Result: r.sendFailed(err)}
	}
	return r.Wait(ctx, ids[0], j.Timeout)
}

// Ahead sends jobs as one run-ahead group, without waiting for any
// result, and returns their IDs: over a link with a long round trip, the
// group costs one round trip, not one a job. The agent runs them in
// order, each once the one before it ended OK, and starts none after one
// that is not; Wait takes each one's result, in order.
func (r *Client) Ahead(js []Job) ([]uint32, error) {
	if r.dead != nil {
		return nil, r.dead
	}
	ids, err := r.send(js, true)
	if err != nil {
		r.sendFailed(err)
		return nil, r.dead
	}
	return ids, nil
}

func (r *Client) send(js []Job, ahead bool) ([]uint32, error) {
	if r.dead != nil {
		return nil, r.dead
	}
	ids := make([]uint32, len(js))
	chain := uint32(0)
	if ahead {
		chain = r.nextID + 1
	}
	for i, j := range js {
		r.nextID++
		ids[i] = r.nextID
		run := &channel.Run{ID: r.nextID, Step: j.Step, Seq: j.Seq, Op: j.Job.Op, Args: j.Job.Args,
			Timeout: int64(j.Job.Timeout), Input: j.Input, Chain: chain}
		if i == 0 {
			run.Journal = bundle.WireEntries(r.takePending())
		}
		if err := r.start.conn.Send(&channel.Message{Type: channel.TRun, Run: run}); err != nil {
			return nil, err
		}
		if chain != 0 {
			r.chains[r.nextID] = chain
		}
	}
	return ids, nil
}

// Drop asks the agent to start no job of id's run-ahead group from id on;
// one that runs already runs to its end. Wait then says which of them were
// dropped.
func (r *Client) Drop(id uint32) {
	if r.dead == nil {
		if err := r.start.conn.Send(&channel.Message{Type: channel.TCancel, Cancel: &channel.Cancel{ID: id, Chain: r.chains[id], Drop: true}}); err != nil {
			r.dead = err
		}
	}
}

// DropGroup asks the agent to start no more jobs of the run-ahead group
// chain; one that runs already runs to its end. Unlike the rest of
// Client, it may be called from another goroutine: a rollout that halts
// calls it at once, so that the node's next job is dropped before it can
// start.
func (r *Client) DropGroup(chain uint32) {
	r.start.conn.Send(&channel.Message{Type: channel.TCancel, Cancel: &channel.Cancel{ID: chain, Chain: chain, Drop: true}})
}

// Wait waits for the result of job id, which Run or Ahead sent, passing
// output on as it comes; as Run does, it cancels the job when ctx ends,
// and closes the session when the agent lets timeout pass.
func (r *Client) Wait(ctx context.Context, id uint32, timeout time.Duration) Result {
	if r.dead != nil {
		return r.lost(r.dead)
	}
	w := r.watch(ctx, id, timeout)
	defer w.stop()
	for {
		m, err := r.start.conn.Recv()
		if err != nil {
			r.dead = err
			if w.expired.Load() {
				return Result{Result: jobs.Resultf(jobs.Error, "the agent did not answer in time; the session was closed, which makes the agent kill the job")}
			}
			return r.lost(err)
		}
		switch m.Type {
		case channel.TResult:
			if m.Result.ID != id {
				continue // the late answer to an abandoned job
			}
			delete(r.chains, id)
			res := m.Result
			if res.Dropped {
				return Result{Dropped: true}
			}
			r.bundleLost = r.bundleLost || res.Lost
			return Result{
				Result:   jobs.Result{Status: jobs.Status(res.Status), Message: res.Message, ExitCode: res.ExitCode, Output: res.Output},
				Duration: time.Duration(res.Duration),
			}
		case channel.TOutput:
			if r.onOutput != nil {
				r.onOutput(m.Output.ID, m.Output.Stream, m.Output.Data)
			}
		case channel.TBye:
			return Result{Result: r.agentBye(m.Bye)}
		default:
			r.dead = fmt.Errorf("%w: %s from the agent during a job", channel.ErrUnexpected, m.Type)
			r.start.sess.Close()
			return r.lost(r.dead)
		}
	}
}

// Fence asks the agent whether the bundle at its path is still the one it
// holds; OK, or ERROR saying why not.
func (r *Client) Fence(ctx context.Context) jobs.Result {
	if r.dead != nil {
		return r.lost(r.dead).Result
	}
	r.nextID++
	id := r.nextID
	if err := r.start.conn.Send(&channel.Message{Type: channel.TFence, Fence: &channel.Fence{ID: id}}); err != nil {
		return r.sendFailed(err)
	}
	ctx, cancel := context.WithTimeout(ctx, resultGrace)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { r.start.sess.Close() })
	defer stop()
	for {
		m, err := r.start.conn.Recv()
		if err != nil {
			r.dead = err
			return r.lost(err).Result
		}
		switch {
		case m.Type == channel.TResult && m.Result.ID == id:
			r.bundleLost = r.bundleLost || m.Result.Lost
			return jobs.Result{Status: jobs.Status(m.Result.Status), Message: m.Result.Message}
		case m.Type == channel.TBye:
			return r.agentBye(m.Bye)
		}
	}
}

// sendFailed is the result of a message that could not be sent: the
// session is over. An agent that was stopped said why in a bye of its own,
// which may still wait to be read.
func (r *Client) sendFailed(err error) jobs.Result {
	r.dead = err
	t := time.AfterFunc(byeTimeout, func() { r.start.sess.Close() })
	defer t.Stop()
	if m, rerr := r.start.conn.Recv(); rerr == nil && m.Type == channel.TBye {
		return r.agentBye(m.Bye)
	}
	return r.lost(err).Result
}

// agentBye takes the bye of an agent that was stopped between or during
// jobs: the session is over, for the reason it gives.
func (r *Client) agentBye(b *channel.Bye) jobs.Result {
	r.bundleLost = r.bundleLost || b.Lost
	r.dead = fmt.Errorf("the agent ended the session: %s", b.Reason)
	return jobs.Resultf(jobs.Error, "%v", r.dead)
}

// watcher sends cancel when the operator stops the job, and closes the
// session when the agent lets a deadline pass.
type watcher struct {
	stopCtx func() bool
	mu      sync.Mutex
	timer   *time.Timer
	expired atomic.Bool
}

func (r *Client) watch(ctx context.Context, id uint32, timeout time.Duration) *watcher {
	w := &watcher{}
	chain := r.chains[id] // read here: the callback runs on another goroutine
	expire := func(d time.Duration) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.timer != nil {
			w.timer.Stop()
		}
		w.timer = time.AfterFunc(d, func() {
			w.expired.Store(true)
			r.start.sess.Close()
		})
	}
	if timeout > 0 {
		expire(timeout + resultGrace)
	}
	w.stopCtx = context.AfterFunc(ctx, func() {
		cancel := &channel.Message{Type: channel.TCancel, Cancel: &channel.Cancel{ID: id, Chain: chain}}
		if r.start.conn.Send(cancel) != nil {
			r.start.sess.Close()
			return
		}
		expire(cancelGrace)
	})
	return w
}

func (w *watcher) stop() {
	w.stopCtx()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (r *Client) lost(err error) Result {
	msg := "the connection to the agent was lost"
	if err != nil {
		msg += ": " + err.Error()
	}
	if tail := r.start.stderr.Bytes(); len(tail) > 0 {
		return Result{Result: jobs.Result{Status: jobs.Error, Message: msg, Output: tail}}
	}
	return Result{Result: jobs.Result{Status: jobs.Error, Message: msg}}
}

// Close says bye with the last journal entries, waits briefly for the
// agent's bye (it writes the lock record first), and closes the session.
func (r *Client) Close() { r.close(true) }

// CloseNow says bye and closes the session without waiting for the
// agent's answer: for an agent that holds no bundle any more (the plan
// closed it), whose bye has no record to write. Over a slow link it saves
// the round trip; the agent's peak memory is then not known.
func (r *Client) CloseNow() { r.close(false) }

func (r *Client) close(wait bool) {
	defer r.start.sess.Close()
	if r.ready.Status != string(jobs.OK) || r.dead != nil {
		return
	}
	msg := &channel.Message{Type: channel.TBye, Bye: &channel.Bye{Journal: bundle.WireEntries(r.takePending())}}
	if r.start.conn.Send(msg) != nil || !wait {
		return
	}
	t := time.AfterFunc(byeTimeout, func() { r.start.sess.Close() })
	defer t.Stop()
	for {
		m, err := r.start.conn.Recv()
		if err != nil {
			return
		}
		if m.Type == channel.TBye {
			r.maxRSS = m.Bye.MaxRSSKB
			return
		}
	}
}

// Ready is the agent's answer to hello: its version, and what it found of
// the bundle or did with it.
func (r *Client) Ready() *channel.Ready { return r.ready }

// Gone ends, with the cause, when the agent's session does.
func (r *Client) Gone() context.Context { return r.gone }

// BundleLost reports whether the agent said the bundle at its path is not
// the one it holds: the run no longer holds the node.
func (r *Client) BundleLost() bool { return r.bundleLost }

// Notices are what the agent's start did that the operator should hear
// of, though the run goes on: a cached agent that did not match its
// sha256 (removed, never run; the agent was uploaded again), or a boot
// command whose here-document the login shell could not hand over.
func (r *Client) Notices() []string {
	var ns []string
	for _, p := range r.start.replaced {
		ns = append(ns, "the cached agent "+p+" did not match its sha256: it was not run; conc removed it and uploaded the agent again")
	}
	if r.start.preludeLost {
		ns = append(ns, "the login shell could not hand the agent its first message in the start command (is the node's temporary directory full?): conc sent it on stdin, a round trip later")
	}
	return ns
}

// MaxRSS is the agent's peak memory in KiB, from its bye.
func (r *Client) MaxRSS() int64 { return r.maxRSS }
