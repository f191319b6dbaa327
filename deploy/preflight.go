package deploy

import (
	"context"
	"errors"

	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/preflight"
)

// preflight is a --dry-run of the node's run: it connects and checks,
// previews every step, and changes nothing on the node.
func (n *nodeRun) preflight(ctx context.Context) jobs.Status {
	defer n.disconnect()
	c, err := n.connect(ctx)
	if err != nil {
		n.out.Message = err.Error()
		n.rep.Printf("%s: connect: %v", n.node.Name, err)
		if errors.As(err, &n.hostKey) {
			n.rep.Printf("%s", n.hostKeyHint())
		}
		return jobs.Error
	}
	st := preflight.Check(ctx, preflight.Run{
		Conn: c, Node: n.node, Params: n.params, Plan: n.plan, Agents: n.opts.Agents,
		Dir: n.opts.File.Dir, Sudo: n.opts.Sudo, Rep: n.rep, Out: &n.out,
	})
	if st == jobs.OK {
		n.rep.Printf("%s: every check passed; a run would start with step 1/%d", n.node.Name, len(n.plan.Steps))
	} else {
		n.rep.Printf("%s: a run would not get through (%s): %s", n.node.Name, st, n.out.Message)
	}
	return st
}
