// Package agent is the remote side of conc: a small static program that the
// controller starts on the node over SSH. It reads the channel on stdin,
// answers on stdout, runs remote jobs in process groups, keeps the lock
// record, and logs only to stderr. When the channel closes it kills
// everything it started and exits. It never imports ssh or sftp.
package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/concdeploy/conc/blobstore"
	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
	"github.com/rs/zerolog"
)

// ErrEvicted is the cause an agent's context ends with when conc unlock
// --force on the node stops it (with SIGUSR1): the run it serves has lost
// the node's lock, and its running job says so.
var ErrEvicted = errors.New("conc unlock --force on the node stopped this run")

// errStopping refuses a job that arrives once a signal has stopped the
// agent.
var errStopping = errors.New("the agent is stopping")

// errQueued says a run-ahead job waits behind the running one, or was
// answered as dropped: there is nothing to run now.
var errQueued = errors.New("queued")

// Timeouts of the agent's own waits.
const (
	helloTimeout    = 30 * time.Second // the controller sends hello at once
	shutdownTimeout = 5 * time.Second  // for a job to return after its group is killed
	byeGrace        = 5 * time.Second  // for a stopped agent's bye to be taken
)

// Options are what an agent is given of its world, instead of reading
// the process's: its tests run many agents in one process, in parallel.
type Options struct {
	Ops  *jobs.Catalogue  // the ops it runs
	Home string           // the admin's home directory, where bundles and the cache are
	Exe  string           // its own executable: hashed for ready, linked into the bundle
	PID  int              // its own process id, written into the lock record
	Now  func() time.Time // the clock of the record's and the journal's times
	Log  zerolog.Logger   // only to stderr: stdout is the channel
}

// ProcessOptions are the Options of an agent that is its own process, as
// on a node.
func ProcessOptions(ops *jobs.Catalogue, log zerolog.Logger) (Options, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return Options{}, fmt.Errorf("find the home directory: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return Options{}, fmt.Errorf("find the agent's own executable: %w", err)
	}
	return Options{Ops: ops, Home: home, Exe: exe, PID: os.Getpid(), Now: time.Now, Log: log}, nil
}

// Agent serves one channel.
type Agent struct {
	conn  *channel.Conn
	log   zerolog.Logger
	opt   Options
	procs jobs.Procs

	hello  *channel.Hello
	home   string
	bundle string      // absolute
	lost   atomic.Bool // the fence failed: the bundle at the path is not this agent's

	hash  chan string        // the agent's own sha256, computed while the hello travels
	blobs *blobstore.Session // the node's store of bundle files, for this channel

	mu       sync.Mutex
	running  *running
	queue    []*channel.Run // run-ahead jobs waiting behind the running one, in order
	drop     dropMark       // the run-ahead jobs that must not start
	hold     *hold          // the bundle this agent serves, by identity and kernel lock
	keeper   *keeper        // the record and journal in it
	closed   bool           // close_bundle removed the bundle
	stopping bool           // a signal ended Serve: no job starts any more
	jobs     sync.WaitGroup
}

type running struct {
	id, chain uint32
	cancel    context.CancelCauseFunc
}

// dropMark names the jobs of one run-ahead group that must not start:
// those from ID from on, once a job of the group was not OK or the
// controller canceled them.
type dropMark struct{ chain, from uint32 }

func (d dropMark) drops(r *channel.Run) bool {
	return r.Chain != 0 && r.Chain == d.chain && r.ID >= d.from
}

// New returns an agent that speaks over rwc.
func New(rwc io.ReadWriteCloser, opt Options) *Agent {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	a := &Agent{conn: channel.New(rwc), log: opt.Log, opt: opt, home: opt.Home, hash: make(chan string, 1),
		blobs: blobstore.NewSession(opt.Home, opt.Now)}
	go func() { a.hash <- fileHash(opt.Exe) }()
	return a
}

// Serve runs the session until the controller says bye, the channel closes,
// or ctx ends. Whatever way it ends, every process group a job started is
// killed before Serve returns.
func (a *Agent) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer func() {
		a.mu.Lock()
		a.stopping = true // no queued job starts once the session is over
		a.mu.Unlock()
		cancel(errors.New("agent shutting down"))
		a.waitJobs()
		a.procs.KillAll()
		a.blobs.Close()
		a.letGo()
		a.conn.Close()
	}()
	ok, err := a.handshake(ctx)
	if err != nil || !ok {
		return err
	}
	end := make(chan error, 1)
	go a.read(ctx, end)
	select {
	case err := <-end:
		return err
	case <-ctx.Done():
		// A signal, or conc unlock --force (ErrEvicted). A read blocked
		// on a pipe does not return when the channel closes, so Serve does
		// not wait for it. The running job, canceled with ctx, still
		// sends its result; then the deferred clean-up kills what is left
		// and lets go of the bundle.
		cause := context.Cause(ctx)
		a.log.Warn().Err(cause).Msg("agent stopped; its jobs are killed and it lets go of the bundle")
		a.mu.Lock()
		a.stopping = true
		a.mu.Unlock()
		a.procs.KillAll()
		a.waitJobs()
		// The controller may be blocked writing to a reader that is gone;
		// the bye is worth a short wait, not a hang.
		sent := make(chan struct{})
		go func() {
			a.send(&channel.Message{Type: channel.TBye, Bye: &channel.Bye{Reason: cause.Error(), Lost: errors.Is(cause, ErrEvicted)}})
			close(sent)
		}()
		select {
		case <-sent:
		case <-time.After(byeGrace):
		}
		return fmt.Errorf("stopped: %w", cause)
	}
}

// readHandoff is how long a job runs on the reading goroutine before
// another goroutine takes over the reading, so that a cancel can reach a
// long job. Quick jobs, most of them, never pay for a second goroutine.
const readHandoff = time.Millisecond

// read receives messages until one ends the session, and says why on end.
// It runs each job itself, so the job starts at once; if the job is still
// running after readHandoff, a timer's goroutine becomes the reader, so
// that a cancel is read. One goroutine reads at a time, so only one sends
// on end.
func (a *Agent) read(ctx context.Context, end chan<- error) {
	for {
		m, err := a.conn.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				a.log.Info().Msg("channel closed; stopping")
				err = nil
			} else {
				err = fmt.Errorf("channel: %w", err)
			}
			end <- err
			return
		}
		switch m.Type {
		case channel.TRun:
			jctx, done, err := a.start(ctx, m.Run)
			if errors.Is(err, errStopping) || errors.Is(err, errQueued) {
				// Keep reading, so the controller's writes never block
				// and it reads the bye that says why nothing runs; a
				// queued job starts when the one before it ends.
				continue
			}
			if err != nil {
				end <- err
				return
			}
			if !a.runChain(ctx, end, m.Run, jctx, done) {
				return // the timer's goroutine reads now
			}
		case channel.TCancel:
			a.cancel(m.Cancel)
		case channel.TFence:
			a.answerFence(m.Fence.ID)
		case channel.TStore:
			a.answerStore(m.Store)
		case channel.TBye:
			end <- a.bye(m.Bye)
			return
		default:
			end <- fmt.Errorf("%w: %s after the handshake", channel.ErrUnexpected, m.Type)
			return
		}
	}
}

// runChain runs r, then each run-ahead job queued behind it, in order, on
// this goroutine. Each job that runs past readHandoff hands the reading of
// the channel to a timer's goroutine, once; runChain returns whether this
// goroutine still reads.
func (a *Agent) runChain(ctx context.Context, end chan<- error, r *channel.Run, jctx context.Context, done func()) bool {
	reader := true
	for r != nil {
		var t *time.Timer
		if reader {
			t = time.AfterFunc(readHandoff, func() { a.read(ctx, end) })
		}
		res := a.run(jctx, r)
		// The result is sent and journaled before the job counts as done:
		// a bye waits for it, and only then lets go of the record.
		next, nctx, ndone := a.finish(ctx, r, res)
		done()
		if reader && !t.Stop() {
			reader = false
		}
		r, jctx, done = next, nctx, ndone
	}
	return reader
}

// handshake reads hello, takes or joins the lock, and answers ready. It
// returns false when the session must end after the answer, as when the
// bundle is held by another deploy.
func (a *Agent) handshake(ctx context.Context) (bool, error) {
	m, err := a.recvHello(ctx)
	if err != nil {
		return false, fmt.Errorf("wait for hello: %w", err)
	}
	if m.Type != channel.THello {
		return false, fmt.Errorf("%w: %s before hello", channel.ErrUnexpected, m.Type)
	}
	ready := &channel.Ready{Version: channel.Version, Arch: runtime.GOARCH, PID: a.opt.PID, Agent: <-a.hash}
	if err := channel.CheckVersion(m.Hello.Version); err != nil {
		ready.Status, ready.Message = string(jobs.Error), err.Error()
		a.send(&channel.Message{Type: channel.TReady, Ready: ready})
		return false, err
	}
	a.hello = m.Hello
	ready.Home = a.home
	a.takeLock(ready)
	if err := a.send(&channel.Message{Type: channel.TReady, Ready: ready}); err != nil {
		return false, err
	}
	// Inspect and unlock are done once they have answered.
	mode := a.hello.LockMode
	return ready.Status == string(jobs.OK) && mode != channel.LockInspect && mode != channel.LockUnlock, nil
}

// recvHello waits for hello, for at most helloTimeout and not past ctx: a
// Recv blocked on the stream returns once the stream closes. Once hello is
// in, nothing closes the stream here any more: Serve must be able to say
// why it stops.
func (a *Agent) recvHello(ctx context.Context) (*channel.Message, error) {
	var mu sync.Mutex
	waiting := true
	giveUp := func() {
		mu.Lock()
		defer mu.Unlock()
		if waiting {
			a.conn.Close()
		}
	}
	timer := time.AfterFunc(helloTimeout, giveUp)
	defer timer.Stop()
	defer context.AfterFunc(ctx, giveUp)()
	m, err := a.conn.Recv()
	mu.Lock()
	waiting = false
	mu.Unlock()
	return m, err
}

// fileHash is the sha256 of the agent's executable, which the controller
// compares with the agent it meant to start.
func fileHash(exe string) string {
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (a *Agent) send(m *channel.Message) error {
	if err := a.conn.Send(m); err != nil {
		// The controller is gone; closing makes Recv return and Serve end.
		a.conn.Close()
		return err
	}
	return nil
}

// bye records the controller's last journal entries and answers once the
// lock record is on disk.
func (a *Agent) bye(b *channel.Bye) error {
	a.mu.Lock()
	a.stopping = true // no queued job starts after the bye
	a.mu.Unlock()
	a.waitJobs()
	if _, k := a.held(); k != nil {
		for _, e := range bundle.EntriesFromWire(b.Journal) {
			k.record(e)
		}
	}
	a.letGo()
	return a.send(&channel.Message{Type: channel.TBye, Bye: &channel.Bye{MaxRSSKB: jobs.PeakRSSKB()}})
}

func (a *Agent) waitJobs() {
	done := make(chan struct{})
	go func() { a.jobs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownTimeout):
		a.log.Warn().Msg("a job did not return after its process group was killed")
	}
}
