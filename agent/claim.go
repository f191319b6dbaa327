package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/internal/livelock"
	"github.com/concdeploy/conc/jobs"
)

// forceGrace is how long unlock --force waits for a holder to let go after
// SIGUSR1, and again after SIGKILL: longer than an evicted agent takes to
// kill its jobs and wait for them (shutdownTimeout).
const forceGrace = 10 * time.Second

// takeLock does what the hello's lock mode asks and fills in ready. On
// BLOCKED it has changed nothing, and ready names the holder.
func (a *Agent) takeLock(r *channel.Ready) {
	h := a.hello
	r.Status = string(jobs.OK)
	if err := bundle.CheckName(h.Bundle); err != nil {
		if h.LockMode != channel.LockNone {
			r.Status, r.Message = string(jobs.Error), err.Error()
		}
		return
	}
	path := filepath.Join(a.home, filepath.FromSlash(h.Bundle))
	if h.LockMode == channel.LockNone {
		// Node tests hold no bundle, and say whether one locks the node.
		describe(r, look(path))
		return
	}
	a.bundle = path
	if err := realParents(a.home, h.Bundle); err != nil {
		// Nothing is created or removed through a link: the bundle
		// would be elsewhere than the deploy file says.
		r.Locked, r.Message = true, err.Error()
		if h.LockMode != channel.LockInspect {
			r.Status = string(jobs.Error)
		}
		return
	}
	switch h.LockMode {
	case channel.LockInspect:
		a.inspect(r)
	case channel.LockOpen:
		a.open(r)
	case channel.LockAttach:
		a.attach(r)
	case channel.LockUnlock:
		a.unlock(r)
	default:
		r.Status, r.Message = string(jobs.Error), fmt.Sprintf("unknown lock mode %q", h.LockMode)
	}
}

// describe puts what the bundle looks like from outside into r.
func describe(r *channel.Ready, v view) {
	r.Locked, r.Live, r.Lock = v.locked, v.live, v.rec.Wire()
	if v.running != nil {
		r.Running = &channel.Running{Step: v.running.Step, Op: v.running.Op, Since: v.running.Since}
	}
	if v.err != nil && r.Message == "" {
		r.Message = v.err.Error()
	}
}

func blocked(r *channel.Ready, format string, args ...any) {
	r.Status, r.Message = string(jobs.Blocked), fmt.Sprintf(format, args...)
}

func (a *Agent) inspect(r *channel.Ready) { describe(r, look(a.bundle)) }

// open is remote open_bundle: the atomic mkdir is the lock.
func (a *Agent) open(r *channel.Ready) {
	if a.hello.Lock == nil {
		r.Status, r.Message = string(jobs.Error), "hello without a lock record"
		return
	}
	h, err := createBundle(a.bundle)
	if errors.Is(err, fs.ErrExist) {
		describe(r, look(a.bundle))
		blocked(r, "the bundle %s exists: the node is locked", a.bundle)
		return
	}
	if err != nil {
		r.Status, r.Message = string(jobs.Failed), fmt.Sprintf("create the bundle: %v", err)
		return
	}
	if err := a.claim(h); err != nil {
		// Leave the node as it was: the bundle is this agent's, and
		// empty but for what claim began to write.
		h.remove()
		h.release()
		r.Status, r.Message = string(jobs.Failed), err.Error()
	}
}

// attach joins a bundle for a resumed run: it takes the kernel lock without
// waiting, then checks, under it, that the record is still the one the
// controller decided on.
func (a *Agent) attach(r *channel.Ready) {
	want := a.hello.Expect
	if a.hello.Lock == nil || want == nil || want.DeployID == "" {
		r.Status, r.Message = string(jobs.Error), "attach without the record to join"
		return
	}
	h, err := holdBundle(a.bundle)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		blocked(r, "the bundle %s is gone (conc unlock, or removed by hand)", a.bundle)
		return
	case errors.Is(err, errLive):
		describe(r, look(a.bundle))
		blocked(r, "the bundle %s is held right now, by a live run or by another conc taking it", a.bundle)
		return
	case err != nil:
		describe(r, look(a.bundle))
		blocked(r, "cannot join the bundle %s: %v", a.bundle, err)
		return
	}
	rec, err := readRecord(h.root)
	if err != nil || !matches(rec, want.DeployID, want.Session) {
		h.release()
		describe(r, look(a.bundle))
		if err != nil {
			blocked(r, "cannot read the lock record in %s: %v", a.bundle, err)
			return
		}
		blocked(r, "the lock on %s changed hands since it was read", a.bundle)
		return
	}
	r.Locked, r.Lock = true, rec.Wire()
	if err := a.claim(h); err != nil {
		h.release()
		r.Status, r.Message = string(jobs.Error), err.Error()
	}
}

// claim makes the agent the bundle's holder: a new session in the record,
// and the keeper for the journal.
func (a *Agent) claim(h *hold) error {
	rec := *bundle.LockFromWire(a.hello.Lock)
	rec.AgentPID = a.opt.PID
	rec.Session = randHex(8)
	rec.Attached = a.opt.Now()
	rec.Detached = time.Time{}
	linkSelf(h, a)
	k, err := newKeeper(h, rec, a.opt.Now, a.log)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.hold, a.keeper = h, k
	a.mu.Unlock()
	return nil
}

// held returns the bundle the agent holds and the keeper of its record,
// or nils. The reading goroutine, a job and a signal's clean-up may ask at
// once.
func (a *Agent) held() (*hold, *keeper) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hold, a.keeper
}

// linkSelf points the bundle's agent link at this executable, so an
// operator looking into the bundle sees which agent serves it.
func linkSelf(h *hold, a *Agent) {
	h.root.Remove(bundle.AgentLink)
	if err := h.root.Symlink(a.opt.Exe, bundle.AgentLink); err != nil {
		a.log.Warn().Err(err).Msg("link the agent into the bundle")
	}
}

// unlock removes the bundle for conc unlock, if its record is still the
// one the operator confirmed. A live holder is stopped first with Force,
// and otherwise refused.
func (a *Agent) unlock(r *channel.Ready) {
	want := a.hello.Expect
	if want == nil {
		want = &channel.Expect{}
	}
	v := look(a.bundle)
	describe(r, v)
	r.Message = ""
	switch {
	case !v.locked:
		blocked(r, "%s is not there: the node is not locked", a.bundle)
		return
	case !matches(v.rec, want.DeployID, want.Session):
		blocked(r, "the lock on %s changed hands since it was read", a.bundle)
		return
	case errors.Is(v.err, errNotBundle):
		a.removeOther(r)
		return
	}
	h, err := a.holdForUnlock(r, want)
	if err != nil {
		return
	}
	defer h.release()
	// An unreadable record is no record: the operator saw it so and
	// confirmed, and it must not make the bundle impossible to remove.
	rec, err := readRecord(h.root)
	if err != nil {
		rec = nil
	}
	if !matches(rec, want.DeployID, want.Session) {
		r.Lock = rec.Wire()
		blocked(r, "the lock on %s changed hands since it was read", a.bundle)
		return
	}
	if err := h.remove(); err != nil {
		r.Status, r.Message = string(jobs.Failed), err.Error()
		return
	}
	r.Locked, r.Live = false, false
	a.logUnlock(rec)
}

// holdForUnlock takes hold of the bundle. A live holder is refused
// without Force; with it, and while the record is still the one the
// operator confirmed, the holder is stopped first. On failure it has filled
// in r.
func (a *Agent) holdForUnlock(r *channel.Ready, want *channel.Expect) (*hold, error) {
	h, err := holdBundle(a.bundle)
	if err == nil {
		return h, nil
	}
	v := look(a.bundle)
	describe(r, v)
	switch {
	case !errors.Is(err, errLive):
		blocked(r, "cannot take the bundle %s: %v", a.bundle, err)
		return nil, err
	case !a.hello.Force:
		blocked(r, "the bundle %s is held right now, by a live run or by another conc taking it", a.bundle)
		return nil, err
	case !matches(v.rec, want.DeployID, want.Session):
		blocked(r, "the lock on %s changed hands since it was read", a.bundle)
		return nil, err
	}
	// Stop only the agent the record names, and only while it is the one
	// holding the lock: an agent that took the lock a moment ago and has
	// not written its record yet is another run's, not the one confirmed.
	live, pid := filepath.Join(a.bundle, bundle.LiveFile), 0
	if v.rec != nil {
		pid = v.rec.AgentPID
	}
	if !livelock.HeldBy(live, pid) {
		blocked(r, "the bundle %s is held by an agent its record does not name (another conc is taking it right now?)", a.bundle)
		return nil, errLive
	}
	a.log.Warn().Int("pid", pid).Msg("unlock --force: stopping the agent that holds the bundle")
	// SIGUSR1 tells an agent it is evicted (ErrEvicted): it kills its
	// jobs, tells its controller the run lost the lock, and lets go.
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGKILL} {
		if !livelock.HeldBy(live, pid) {
			break
		}
		syscall.Kill(pid, sig)
		if h, err = holdWithin(a.bundle, forceGrace); !errors.Is(err, errLive) {
			break
		}
	}
	if err != nil {
		blocked(r, "the agent holding %s (pid %d) did not let go, or another took the lock: %v", a.bundle, pid, err)
		return nil, err
	}
	r.Message = fmt.Sprintf("stopped the live run's agent (pid %d) first", pid)
	return h, nil
}

// removeOther removes what stands at the bundle's path that is not a
// directory, such as a dangling symbolic link: the link itself, never
// what it points to.
func (a *Agent) removeOther(r *channel.Ready) {
	if err := os.Remove(a.bundle); err != nil {
		r.Status, r.Message = string(jobs.Failed), fmt.Sprintf("remove %s: %v", a.bundle, err)
		return
	}
	r.Locked, r.Message = false, ""
	a.logUnlock(nil)
}

// logUnlock appends a line to the node's unlocks.log: who removed whose lock.
func (a *Agent) logUnlock(rec *bundle.Lock) {
	who := "unknown"
	if a.hello.Lock != nil {
		who = a.hello.Lock.Holder
	}
	deploy, holder := "", "nobody (no lock record)"
	if rec != nil {
		deploy, holder = rec.DeployID, rec.Holder
	}
	dir := filepath.Join(a.home, bundle.CacheDir)
	os.MkdirAll(dir, bundle.Mode)
	f, err := os.OpenFile(filepath.Join(dir, "unlocks.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		a.log.Warn().Err(err).Msg("unlocks.log")
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s removed ~/%s of deploy %q held by %s\n",
		a.opt.Now().UTC().Format(time.RFC3339), who, a.hello.Bundle, deploy, holder)
}

// fence is the check before every job: the bundle at its path must still
// be the one this agent holds. A session without a bundle (node tests)
// has nothing to fence.
func (a *Agent) fence() error {
	a.mu.Lock()
	h, closed := a.hold, a.closed
	a.mu.Unlock()
	switch {
	case h != nil:
		err := h.check()
		if err != nil {
			a.lost.Store(true)
		}
		return err
	case closed:
		return fmt.Errorf("%w: close_bundle removed %s", jobs.ErrBundleLost, a.bundle)
	case a.hello.LockMode == channel.LockOpen || a.hello.LockMode == channel.LockAttach:
		return fmt.Errorf("%w: this agent does not hold %s", jobs.ErrBundleLost, a.bundle)
	}
	return nil
}

// answerFence answers the controller's fence with a result: OK, or ERROR
// saying why the bundle is no longer this run's.
func (a *Agent) answerFence(id uint32) {
	res := &channel.Result{ID: id, Status: string(jobs.OK)}
	if err := a.fence(); err != nil {
		res.Status, res.Message, res.Lost = string(jobs.Error), lostMessage(err), a.lost.Load()
	}
	a.send(&channel.Message{Type: channel.TResult, Result: res})
}

// answerStore does what a store request asks of the node's store of
// bundle files (blobstore), in the bundle this agent holds and only while
// the fence holds, and answers with a result of the request's ID.
func (a *Agent) answerStore(q *channel.Store) {
	res := &channel.Result{ID: q.ID, Status: string(jobs.OK)}
	var root *os.Root
	if h, _ := a.held(); h != nil {
		root = h.root
	}
	if err := a.fence(); err != nil {
		res.Status, res.Message, res.Lost = string(jobs.Error), lostMessage(err), a.lost.Load()
	} else if ans, err := a.blobs.Serve(root, q); err != nil {
		res.Status, res.Message = string(jobs.Failed), err.Error()
	} else {
		res.Store = ans
	}
	a.send(&channel.Message{Type: channel.TResult, Result: res})
}

func lostMessage(err error) string {
	return err.Error() + "; this run no longer holds the node and stops here"
}

// letGo ends the agent's hold: the record says detached, then the kernel
// lock goes.
func (a *Agent) letGo() {
	a.mu.Lock()
	h, k := a.hold, a.keeper
	a.hold, a.keeper = nil, nil
	a.mu.Unlock()
	if k != nil {
		k.detach()
	}
	if h != nil {
		h.release()
	}
}

// removeBundle is close_bundle on the node: it stops writing, removes the
// bundle if it is still this agent's, and lets go.
func (a *Agent) removeBundle() error {
	h, k := a.held()
	if h == nil {
		return a.fence()
	}
	err := h.remove()
	if errors.Is(err, jobs.ErrBundleLost) {
		a.lost.Store(true)
	}
	if err != nil && h.check() == nil {
		// Back at its path and still held: the run stops here with the
		// node locked, for the operator to look.
		return err
	}
	k.release()
	h.release()
	a.mu.Lock()
	a.hold, a.keeper, a.closed = nil, nil, true
	a.mu.Unlock()
	return err
}
