package main

import (
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/nodelock"
	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	var limit string
	var asJSON bool
	var parallel int
	cmd := &cobra.Command{
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
		RunE: func(cmd *cobra.Command, args []string) error {
			f, nodes, err := a.loadTargets(args, limit)
			if err != nil {
				return err
			}
			agents, err := a.getAgents()
			if err != nil {
				return err
			}
			code := nodelock.Print(a.stdout, nodelock.ReadAll(cmd.Context(), f, nodes, agents, a.dialOptions(), parallel), asJSON)
			if code != jobs.ExitOK {
				return &exitError{code: code}
			}
			return nil
		},
	}
	limitFlag(cmd.Flags(), &limit)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per node (docs/json.md)")
	cmd.Flags().IntVar(&parallel, "parallel", 8, "read at most N nodes at once")
	return cmd
}
