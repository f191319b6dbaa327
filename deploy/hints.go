package deploy

import (
	"fmt"
	"strings"

	"errors"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/sshconn"
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

// hostKeyHint says what to do about a host key conc refused: check it and
// record it, or find out why it changed. It is not a lock: nothing was
// done on the node, and conc did not log in.
func (n *nodeRun) hostKeyHint() string {
	hk, name := n.hostKey, n.node.Name
	cmd := func(verb string) string { return strings.TrimSpace(n.opts.Invocation + " " + verb) }
	var b strings.Builder
	if errors.Is(hk, sshconn.ErrChangedHostKey) {
		fmt.Fprintf(&b, "  conc did not log in: %s (%s) presents %s, not the key %s holds for it. This may be an attack.\n", hk.Node, hk.Addr, hk.Fingerprint, hk.KnownHosts)
		fmt.Fprintf(&b, "  if %s was rebuilt: ssh-keygen -R %s -f %s\n", hk.Node, jobs.Quote(hk.Name()), jobs.Quote(hk.KnownHosts))
	} else {
		fmt.Fprintf(&b, "  conc did not log in: the host key of %s (%s) is not in %s yet.\n", hk.Node, hk.Addr, hk.KnownHosts)
		fmt.Fprintf(&b, "  check:    that %s is %s's key (on it: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)\n", hk.Fingerprint, hk.Node)
	}
	fmt.Fprintf(&b, "  record:   %s   (or run again with --accept-new-host-keys)\n", cmd("hostkeys "+name))
	fmt.Fprintf(&b, "  then:     %s\n", cmd(n.opts.Verb+" "+name))
	return b.String()
}
