package nodelock

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rs/zerolog"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/sshconn"
)

// ErrDeclined is returned when the operator did not confirm an unlock.
var ErrDeclined = errors.New("not unlocked")

// Unlocker is conc unlock's conversation with the operator: it shows the
// lock, asks, unlocks, and says what it did.
type Unlocker struct {
	Out     io.Writer
	Force   bool // stop a live holder first
	Confirm func(question string) (bool, error)
	Log     zerolog.Logger // where the removal is written down
	// Release tidies this workstation's side once the node's bundle is
	// gone (the local bundle), and says what it did.
	Release func() (string, error)
}

// Run shows n's lock and, once the operator confirms (Confirm nil: do not
// ask), removes it. Its errors wrap ErrLive, ErrChanged or ErrBusy when
// the lock stood, ErrDeclined when the operator said no.
func (u Unlocker) Run(ctx context.Context, c *sshconn.Conn, agents agentclient.Agents, n *config.Node) error {
	st, err := ReadStatus(ctx, c, agents, n)
	if err != nil {
		return err
	}
	if !st.Locked() {
		fmt.Fprintf(u.Out, "%s is not locked\n", n.Name)
		return nil
	}
	fmt.Fprintln(u.Out, st.Describe())
	if err := st.Unlockable(u.Force); err != nil {
		return err
	}
	deployID := "unknown, no lock record"
	if st.Lock != nil && st.Lock.DeployID != "" {
		deployID = st.Lock.DeployID
	}
	if u.Confirm != nil {
		ok, err := u.Confirm(fmt.Sprintf("remove ~/%s on %s, giving up deploy %s? [y/N] ", st.Bundle, n.Name, deployID))
		if err != nil {
			return err
		}
		if !ok {
			return ErrDeclined
		}
	}
	did, err := Unlock(ctx, c, agents, n, st, u.Force)
	if errors.Is(err, ErrFree) {
		fmt.Fprintf(u.Out, "%s is not locked any more: %v\n", n.Name, err)
		return nil
	} else if err != nil {
		return err
	}
	if did != "" {
		fmt.Fprintf(u.Out, "%s: %s\n", n.Name, did)
	}
	holder := "unknown"
	if st.Lock != nil {
		holder = st.Lock.Holder
	}
	u.Log.Warn().Str("node", n.Name).Str("deploy_id", deployID).Str("holder", holder).
		Bool("alive", st.Live).Msg("unlocked: removed the bundle of a run conc did not hold")
	fmt.Fprintf(u.Out, "%s: unlocked (removed ~/%s of deploy %s)\n", n.Name, st.Bundle, deployID)
	msg, err := u.Release()
	if msg != "" {
		fmt.Fprintf(u.Out, "%s: %s\n", n.Name, msg)
	}
	return err
}
