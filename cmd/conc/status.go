package main

import (
	"fmt"

	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/nodelock"
	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status [NODE|GROUP...]",
		Short: "show whether nodes are locked, by whom, how far their run got, and whether its holder is alive",
		Long: `Ask each node's agent about its bundle and say whether the node is free or
locked. For a locked node: the holder (user@host and pid), the deploy id, the
plan, when it started, the last step and its status, and whether the holder is
alive. The agent serving a run holds a kernel lock on its bundle for exactly
as long as it lives, so "alive" is read from that lock, not from a clock: a
run that is not alive is gone (stopped, crashed, cut off) and its lock waits
for --resume or conc unlock. Reading takes no lock and changes nothing.
Without arguments, every node.

Exit status: 0 all free, 3 any locked, 1 a node could not be read.`,
		Example: "  conc status\n  conc status node1 web",
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := a.load()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				args = f.NodeNames()
			}
			nodes, err := f.Targets(args)
			if err != nil {
				return usageErr(err)
			}
			agents, err := a.getAgents()
			if err != nil {
				return err
			}
			code := jobs.ExitOK
			for _, n := range nodes {
				c, err := a.dial(cmd.Context(), f, n)
				if err != nil {
					fmt.Fprintf(a.stdout, "%s: unknown: %v\n", n.Name, err)
					code = jobs.WorseExit(code, jobs.ExitFailed)
					continue
				}
				st, err := nodelock.ReadStatus(cmd.Context(), c, agents, n)
				c.Close()
				if err != nil {
					fmt.Fprintf(a.stdout, "%s: unknown: %v\n", n.Name, err)
					code = jobs.WorseExit(code, jobs.ExitFailed)
					continue
				}
				fmt.Fprintln(a.stdout, st.Describe())
				if st.Locked() {
					code = jobs.WorseExit(code, jobs.ExitBlocked)
				}
			}
			if code != jobs.ExitOK {
				return &exitError{code: code}
			}
			return nil
		},
	}
}
