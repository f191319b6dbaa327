// Package nodelock is the workstation's side of the node's lock: it asks
// the node's agent whether the bundle exists, who holds it and whether the
// holder is alive, and removes a lock for conc unlock, only if it is still
// the one the operator confirmed. The guarantees themselves are kept on the
// node, by the agent (docs/stop-and-resume.md, "The lock").
package nodelock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/sshconn"
)

// The ways a lock refuses an unlock.
var (
	// ErrLive is returned when unlocking a lock whose holder is alive.
	ErrLive = errors.New("the lock's holder is alive")
	// ErrChanged is returned when the lock changed hands between being
	// read (and confirmed) and being acted on.
	ErrChanged = errors.New("the lock changed hands")
	// ErrBusy is returned when the node's agent could not take the lock to
	// act on it, and nothing was done.
	ErrBusy = errors.New("the lock is busy")
	// ErrFree is returned when unlocking a node that has no bundle (any
	// more): there is nothing to remove.
	ErrFree = errors.New("the node is not locked")
)

// NodeStatus is what a node's agent found of its bundle.
type NodeStatus struct {
	Node   string
	Bundle string       // the bundle's path, relative to the admin's home
	Held   bool         // the bundle exists: the node is locked
	Live   bool         // a live agent holds the bundle's kernel lock
	Lock   *bundle.Lock // its record and journal; nil when it has none
	Note   string       // what the agent could not read, or what the path is
	// Running is the job a live holder has run for more than a second.
	Running *bundle.Running
}

// Locked reports whether the node has a bundle.
func (s NodeStatus) Locked() bool { return s.Held }

// StatusOf reads the bundle's state from an agent's ready.
func StatusOf(n *config.Node, r *channel.Ready) NodeStatus {
	st := NodeStatus{Node: n.Name, Bundle: n.Get(config.KeyBundle), Held: r.Locked, Live: r.Live, Lock: bundle.LockFromWire(r.Lock)}
	if r.Running != nil {
		st.Running = &bundle.Running{Step: r.Running.Step, Op: r.Running.Op, Since: r.Running.Since}
	}
	if st.Held && r.Status == string(jobs.OK) {
		st.Note = r.Message
	}
	return st
}

// Expect names the record the operator saw, for attach and unlock to
// compare with the one they find.
func (s NodeStatus) Expect() *channel.Expect {
	if s.Lock == nil {
		return &channel.Expect{}
	}
	return &channel.Expect{DeployID: s.Lock.DeployID, Session: s.Lock.Session}
}

// ReadStatus asks the node's agent about the bundle: whether it exists,
// its record, and whether a live agent holds it. It reads the node, not
// the local journal, since another workstation may hold the lock, and it
// takes no lock: it never stands in the way of a run.
func ReadStatus(ctx context.Context, c *sshconn.Conn, agents agentclient.Agents, n *config.Node) (NodeStatus, error) {
	return inspect(n, func(h *channel.Hello) (*agentclient.Client, error) {
		return agentclient.Open(ctx, c, agents, h, nil, nil)
	})
}

// PeekStatus is ReadStatus for a preflight, which changes nothing on the
// node: it starts the agent only if the node has it cached, and returns
// an *agentclient.NotCachedError when not.
func PeekStatus(ctx context.Context, c *sshconn.Conn, agents agentclient.Agents, n *config.Node) (NodeStatus, error) {
	return inspect(n, func(h *channel.Hello) (*agentclient.Client, error) {
		return agentclient.OpenCached(ctx, c, agents, h, nil)
	})
}

// inspect reads the bundle's state through an agent that open starts with
// an inspecting hello.
func inspect(n *config.Node, open func(*channel.Hello) (*agentclient.Client, error)) (NodeStatus, error) {
	r, err := open(&channel.Hello{
		Version: channel.Version, Node: n.Name, Bundle: n.Get(config.KeyBundle), LockMode: channel.LockInspect,
		Lock: &channel.Record{Holder: Holder(), Node: n.Name},
	})
	if err != nil {
		var nc *agentclient.NotCachedError
		if !errors.As(err, &nc) {
			err = fmt.Errorf("start the agent on %s: %w", n.Name, err)
		}
		return NodeStatus{Node: n.Name, Bundle: n.Get(config.KeyBundle)}, err
	}
	r.Close()
	if r.Ready().Status != string(jobs.OK) {
		return StatusOf(n, r.Ready()), fmt.Errorf("read the lock on %s: %s", n.Name, r.Ready().Message)
	}
	return StatusOf(n, r.Ready()), nil
}

// lockSession starts an agent that does one thing to the bundle, as mode
// says, and answers in its ready.
func lockSession(ctx context.Context, c *sshconn.Conn, agents agentclient.Agents, n *config.Node, mode string, expect *channel.Expect, force bool) (*agentclient.Client, error) {
	hello := &channel.Hello{
		Version: channel.Version, Node: n.Name, Bundle: n.Get(config.KeyBundle), LockMode: mode,
		Lock: &channel.Record{Holder: Holder(), Node: n.Name}, Expect: expect, Force: force,
	}
	r, err := agentclient.Open(ctx, c, agents, hello, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("start the agent on %s: %w", n.Name, err)
	}
	return r, nil
}

// Describe renders a status for conc status: one line when free, a few
// when locked.
func (s NodeStatus) Describe() string {
	if !s.Held {
		return fmt.Sprintf("%s: free", s.Node)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: locked: the bundle ~/%s exists\n", s.Node, s.Bundle)
	l := s.Lock
	if l == nil || l.DeployID == "" {
		what := "unknown (the bundle has no lock record)"
		if s.Note != "" {
			what = "unknown: " + s.Note
		}
		fmt.Fprintf(&b, "  holder:  %s\n", what)
		fmt.Fprintf(&b, "  alive:   %s", s.alive())
		return b.String()
	}
	fmt.Fprintf(&b, "  holder:  %s (pid %d)\n", l.Holder, l.PID)
	fmt.Fprintf(&b, "  deploy:  %s, plan %s, started %s\n", l.DeployID, l.Plan, l.Started.Local().Format(time.DateTime))
	if e, ok := l.Last(); ok {
		fmt.Fprintf(&b, "  last:    step %d/%d %s %s: %s", e.Step, l.Steps, e.Host, e.Op, e.Status)
		if e.Message != "" {
			fmt.Fprintf(&b, " (%s)", e.Message)
		}
		b.WriteByte('\n')
	} else {
		b.WriteString("  last:    no step has ended\n")
	}
	if r := s.Running; r != nil && s.Live {
		fmt.Fprintf(&b, "  running: step %d/%d %s, for %s\n", r.Step, l.Steps, r.Op, time.Since(r.Since).Round(time.Second))
	}
	fmt.Fprintf(&b, "  alive:   %s", s.alive())
	return b.String()
}

// alive says whether the holder lives, from the kernel lock, and what the
// record adds about when it attached or let go.
func (s NodeStatus) alive() string {
	l := s.Lock
	if l == nil {
		l = &bundle.Lock{}
	}
	next := fmt.Sprintf("resume it (--resume) or remove it (conc unlock %s)", s.Node)
	switch {
	case s.Live:
		return "yes: " + s.liveWho()
	case !l.Detached.IsZero():
		return fmt.Sprintf("no, no run has been attached since %s; %s", l.Detached.Local().Format(time.DateTime), next)
	case l.AgentPID != 0:
		return fmt.Sprintf("no, its agent (pid %d) ended without letting go (killed, or the node restarted); %s", l.AgentPID, next)
	}
	return fmt.Sprintf("no; %s", next)
}

// liveWho says which agent holds a live lock.
func (s NodeStatus) liveWho() string {
	if l := s.Lock; l != nil && l.AgentPID != 0 {
		return fmt.Sprintf("its agent (pid %d on the node) holds the lock, attached since %s", l.AgentPID, l.Attached.Local().Format(time.DateTime))
	}
	return "an agent on the node holds the lock"
}

// Unlockable returns ErrLive, with what to do, when the lock's holder is
// alive and force is not given; conc unlock asks before it confirms.
func (s NodeStatus) Unlockable(force bool) error {
	if s.Live && !force {
		return fmt.Errorf("%w: %s is held by a live run: %s; stop it, or use --force to stop its agent and remove the bundle",
			ErrLive, s.Node, s.liveWho())
	}
	return nil
}

// Unlock removes a node's bundle, the lock, once the operator confirmed
// the status st. It is the only way conc removes a lock it does not hold.
// The node's agent takes the kernel lock, checks that the record is still
// the one in st, moves the bundle aside and removes it; a live holder is
// refused without force, and with it stopped first. It returns what the
// agent did, for the operator.
func Unlock(ctx context.Context, c *sshconn.Conn, agents agentclient.Agents, n *config.Node, st NodeStatus, force bool) (string, error) {
	r, err := lockSession(ctx, c, agents, n, channel.LockUnlock, st.Expect(), force)
	if err != nil {
		return "", err
	}
	r.Close()
	ready := r.Ready()
	now := StatusOf(n, ready)
	switch {
	case ready.Status == string(jobs.OK):
		return ready.Message, nil
	case ready.Status != string(jobs.Blocked):
		return "", fmt.Errorf("unlock %s: %s: %s", n.Name, ready.Status, ready.Message)
	case !now.Held:
		return "", fmt.Errorf("%w: %s", ErrFree, ready.Message)
	case !sameRecord(now.Lock, st.Lock):
		holder := "a bundle without a lock record"
		if now.Lock != nil {
			holder = now.Lock.String()
		}
		return "", fmt.Errorf("%w: %s: %s; it is now held by %s, not the run you confirmed; nothing was removed: look again with conc status %s",
			ErrChanged, n.Name, ready.Message, holder, n.Name)
	case now.Live:
		return "", fmt.Errorf("%w: %s: %s: %s; nothing was removed", ErrLive, n.Name, ready.Message, now.liveWho())
	}
	return "", fmt.Errorf("%w: %s: %s; nothing was removed", ErrBusy, n.Name, ready.Message)
}

// sameRecord reports whether two reads of a bundle found the same holder's
// session: nothing has attached in between.
func sameRecord(a, b *bundle.Lock) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.DeployID == b.DeployID && a.Session == b.Session
}

// Holder names this controller: user@host.
func Holder() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// TestHeader is the line conc test prints before a node's tests when the
// node is locked, or its lock could not be read; "" otherwise.
func TestHeader(node string, st *NodeStatus, err error) string {
	switch {
	case err != nil:
		return fmt.Sprintf("# %s: cannot read its lock: %v\n", node, err)
	case !st.Locked():
		return ""
	}
	if st.Lock == nil {
		return fmt.Sprintf("# %s: locked by a bundle without a lock record; testing anyway\n", node)
	}
	last := "no step has ended"
	if e, ok := st.Lock.Last(); ok {
		last = fmt.Sprintf("at step %d %s: %s", e.Step, e.Op, e.Status)
	}
	return fmt.Sprintf("# %s: locked by %s (deploy %s, %s); testing anyway\n", node, st.Lock.Holder, st.Lock.DeployID, last)
}
