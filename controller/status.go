package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/config"
)

// NodeStatus is what a node's bundle says about its lock.
type NodeStatus struct {
	Node   string
	Bundle string       // the bundle's path, relative to the admin's home
	Lock   *bundle.Lock // nil: the node is free
	Now    time.Time    // the node's clock, to judge the heartbeat by
	Alive  bool         // the holder's heartbeat is fresh
}

// Locked reports whether the node has a bundle.
func (s NodeStatus) Locked() bool { return s.Lock != nil }

// Age is how old the heartbeat is by the node's clock, which is read to the
// second.
func (s NodeStatus) Age() time.Duration {
	if s.Lock == nil || s.Lock.Heartbeat.IsZero() {
		return 0
	}
	return max(0, s.Now.Sub(s.Lock.Heartbeat.Truncate(time.Second)))
}

// ReadStatus reads a node's lock over a connection. It reads the node, not
// the local journal: another workstation may hold the lock.
func ReadStatus(ctx context.Context, c *Conn, n *config.Node) (NodeStatus, error) {
	st := NodeStatus{Node: n.Name, Bundle: n.Get(config.KeyBundle)}
	s, err := c.SFTP()
	if err != nil {
		return st, err
	}
	st.Lock, err = readNodeLock(s, st.Bundle)
	if err != nil || st.Lock == nil {
		return st, err
	}
	st.Now = nodeClock(ctx, c)
	st.Alive = st.Lock.Alive(st.Now)
	return st, nil
}

// nodeClock reads the node's time, since the heartbeat was written by the
// node's clock and the two clocks may differ. If it cannot, it falls back to
// the local clock.
func nodeClock(ctx context.Context, c *Conn) time.Time {
	sess, err := c.Client.NewSession()
	if err != nil {
		return time.Now()
	}
	defer sess.Close()
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	out, err := sess.Output("date +%s")
	if err != nil {
		return time.Now()
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Now()
	}
	return time.Unix(sec, 0)
}

// Describe renders a status for conc status: one line when free, a few
// when locked.
func (s NodeStatus) Describe() string {
	if s.Lock == nil {
		return fmt.Sprintf("%s: free", s.Node)
	}
	l := s.Lock
	var b strings.Builder
	fmt.Fprintf(&b, "%s: locked: the bundle ~/%s exists\n", s.Node, s.Bundle)
	if l.DeployID == "" {
		fmt.Fprintf(&b, "  holder:  %s\n", l.Holder)
		return strings.TrimRight(b.String(), "\n")
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
	switch {
	case s.Alive:
		fmt.Fprintf(&b, "  alive:   yes, heartbeat %s ago", s.Age().Round(time.Second))
	case !l.Detached.IsZero():
		fmt.Fprintf(&b, "  alive:   no, no run has been attached since %s; resume it (--resume) or remove it (conc unlock %s)", l.Detached.Local().Format(time.DateTime), s.Node)
	default:
		fmt.Fprintf(&b, "  alive:   no, last heartbeat %s ago; resume it (--resume) or remove it (conc unlock %s)", s.Age().Round(time.Second), s.Node)
	}
	return b.String()
}

// Unlock removes a node's bundle, the lock, after it was shown. It is the
// only way conc removes a lock it does not hold. A holder whose heartbeat is
// fresh is alive and is not unlocked without force.
func Unlock(c *Conn, st NodeStatus, force bool) error {
	if st.Lock == nil {
		return nil
	}
	if err := st.Unlockable(force); err != nil {
		return err
	}
	s, err := c.SFTP()
	if err != nil {
		return err
	}
	if err := s.RemoveAll(st.Bundle); err != nil {
		return fmt.Errorf("remove ~/%s on %s: %w", st.Bundle, st.Node, err)
	}
	// A line in the node's cache directory records who removed whose lock.
	s.MkdirAll(bundle.CacheDir)
	if f, err := s.OpenFile(path.Join(bundle.CacheDir, "unlocks.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND); err == nil {
		fmt.Fprintf(f, "%s %s removed ~/%s of deploy %q held by %s\n",
			time.Now().UTC().Format(time.RFC3339), holder(), st.Bundle, st.Lock.DeployID, st.Lock.Holder)
		f.Close()
	}
	return nil
}

// Unlockable returns ErrLive, with what to do, when the lock's holder is
// alive and force is not given; conc unlock asks before it confirms.
func (s NodeStatus) Unlockable(force bool) error {
	if s.Alive && !force {
		return fmt.Errorf("%w: %s is held by a live run (heartbeat %s ago); stop it, or use --force if you know it is gone",
			ErrLive, s.Node, s.Age().Round(time.Second))
	}
	return nil
}

// ErrLive is returned when unlocking a lock whose holder is alive.
var ErrLive = errors.New("the lock's holder is alive")
