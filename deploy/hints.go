package deploy

import (
	"fmt"
	"strings"

	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
)

// stopMessage says where a run stopped, what it left on the node, and the
// commands to look, continue or give up.
func (n *nodeRun) stopMessage(st *config.Step, res jobs.Result, where string) string {
	name := n.node.Name
	var b strings.Builder
	fmt.Fprintf(&b, "%s: stopped %s step %d/%d (%s %s): %s", name, where, st.Number, len(n.plan.Steps), st.Job.Host, st.Job.Op, res.Status)
	if where != "at" && res.Message != "" {
		fmt.Fprintf(&b, ", %s", res.Message)
	}
	b.WriteString("\n")
	cmd := func(verb string) string {
		return strings.TrimSpace(n.opts.Invocation + " " + verb)
	}
	resume := cmd(n.opts.Verb + " " + name + " --resume")
	switch {
	case n.hostKey != nil:
		b.WriteString(n.hostKeyHint())
	case n.lostBundle:
		fmt.Fprintf(&b, "  This run lost %s's lock: its bundle ~/%s was removed or replaced under it (conc unlock --force, or by hand).\n",
			name, n.node.Get(config.KeyBundle))
		b.WriteString("  It ran nothing after that and touched no other run's bundle; it cannot be resumed.\n")
		fmt.Fprintf(&b, "  look:     %s\n", cmd("status "+name))
		fmt.Fprintf(&b, "  start over: %s\n", cmd(n.opts.Verb+" "+name))
	case n.locked:
		fmt.Fprintf(&b, "  The bundle ~/%s stays on %s and keeps it locked by deploy %s.\n",
			n.node.Get(config.KeyBundle), name, n.journal.State.DeployID)
		if mounted, _ := jobs.IsMountPoint(n.localBundle); mounted {
			fmt.Fprintf(&b, "  It stays mounted at %s.\n", n.localBundle)
		}
		fmt.Fprintf(&b, "  look:     %s    %s\n", cmd("bundle "+name), cmd("ssh "+name))
		fmt.Fprintf(&b, "  continue: %s\n", resume)
		fmt.Fprintf(&b, "  give up:  %s\n", cmd("unlock "+name))
	case res.Status == jobs.Blocked && st.Info.Opens(st.Job.Host):
		fmt.Fprintf(&b, "  Nothing was changed on %s.\n", name)
		fmt.Fprintf(&b, "  look:     %s\n", cmd("status "+name))
		fmt.Fprintf(&b, "  if its holder is gone: %s, then run again\n", cmd("unlock "+name))
	default:
		fmt.Fprintf(&b, "  %s is not locked by this run.\n", name)
		fmt.Fprintf(&b, "  continue: %s\n", resume)
		fmt.Fprintf(&b, "  or start over: %s\n", cmd(n.opts.Verb+" "+name))
	}
	return strings.TrimRight(b.String(), "\n")
}

// hostKeyHint says what to do about the host key conc refused.
func (n *nodeRun) hostKeyHint() string {
	return n.hostKey.Hint(n.opts.Invocation, n.opts.Verb, n.node.Name)
}
