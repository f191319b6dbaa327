package main

import (
	"context"
	"time"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/nodecache"
	"github.com/concdeploy/conc/nodelock"
	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	return a.readCmd(&cobra.Command{
		Use:   "status [NODE|GROUP...]",
		Short: "show whether nodes are locked, by whom, how far their run got, and whether its holder is alive",
		Long: `Ask each node's agent about its bundle and say whether the node is free or
locked. For a locked node: the holder (user@host and pid), the deploy id, the
plan, when it started, the last step and its status, and whether the holder is
alive. The agent serving a run holds a kernel lock on its bundle for exactly
as long as it lives, so "alive" is read from that lock, not from a clock: a
run that is not alive is gone (stopped, crashed, cut off) and its lock waits
for --resume or conc unlock. Reading takes no lock and changes nothing.
Without arguments, every node; --json prints one object per node.

Exit status: 0 all free, 3 any locked, 1 a node could not be read.`,
		Example: "  conc status\n  conc status node1 web\n  conc status web --limit '!web3' --json",
	}, func(r nodeRead) int {
		return nodelock.Print(a.stdout, nodelock.ReadAll(r.ctx, r.f, r.nodes, r.agents, a.dialOptions(), r.parallel), r.json)
	})
}

func (a *app) cacheCmd() *cobra.Command {
	var prune bool
	cmd := a.readCmd(&cobra.Command{
		Use:   "cache [NODE|GROUP...]",
		Short: "show the node's store of bundle files, or empty it with --prune",
		Long: `put and copy_product keep what they send in a store on the node,
~/.cache/conc/store (mode 0700), by the sha256 of its content: the next
deploy sends the hashes first and only new content crosses the wire. The
store keeps to the node's store_limit param (default 1G; 0 turns it off),
dropping the least recently used files. conc cache shows what it holds;
--prune empties it. Neither takes a lock: a run that links from the store
meanwhile keeps what it linked. Without arguments, every node.

Exit status: 0, or 1 when a node could not be read.`,
		Example: "  conc cache node1\n  conc cache web --prune",
	}, func(r nodeRead) int {
		reports := nodecache.ReadAll(r.ctx, r.f, r.nodes, r.agents, a.dialOptions(), r.parallel, prune)
		return nodecache.Print(a.stdout, reports, r.json, time.Now())
	})
	cmd.Flags().BoolVar(&prune, "prune", false, "empty the store")
	return cmd
}

// nodeRead is what a command that reads nodes is given.
type nodeRead struct {
	ctx      context.Context
	f        *config.File
	nodes    []*config.Node
	agents   agentclient.Agents
	json     bool
	parallel int
}

// readCmd gives cmd what a command that reads each NODE|GROUP named (every
// node without arguments) takes: --limit, --json, --parallel; read returns
// the exit code.
func (a *app) readCmd(cmd *cobra.Command, read func(nodeRead) int) *cobra.Command {
	var limit string
	r := nodeRead{}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var err error
		if r.f, r.nodes, err = a.loadTargets(args, limit); err != nil {
			return err
		}
		if r.agents, err = a.getAgents(); err != nil {
			return err
		}
		r.ctx = cmd.Context()
		if code := read(r); code != jobs.ExitOK {
			return &exitError{code: code}
		}
		return nil
	}
	limitFlag(cmd.Flags(), &limit)
	cmd.Flags().BoolVar(&r.json, "json", false, "print one JSON object per node (docs/json.md)")
	cmd.Flags().IntVar(&r.parallel, "parallel", 8, "read at most N nodes at once")
	return cmd
}
