package main

import (
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/sshconn"
	"github.com/spf13/cobra"
)

func (a *app) hostkeysCmd() *cobra.Command {
	var yes bool
	var limit string
	fc := &sshconn.FirstContact{Out: a.stdout, Parallel: 8}
	cmd := &cobra.Command{
		Use:   "hostkeys [NODE|GROUP...]",
		Short: "first contact: read the host keys of many nodes, ask once, record the new ones",
		Long: `Read the host keys of the nodes (all without arguments) and their jump hosts,
logging in to no host whose key is not known yet; print one table; ask once
(--yes: never); record the new keys in their known_hosts. A node behind a new
jump host is read once that host's key is recorded. A changed key is shown,
never recorded: find out why, remove the old line (ssh-keygen -R), run again.

Exit status: 0 every key is known now, 1 a key changed or a node could not be
read, 3 the new keys were not recorded.`,
		Example: "  conc hostkeys web\n  conc hostkeys --yes",
		RunE: func(cmd *cobra.Command, args []string) error {
			f, nodes, err := a.loadTargets(args, limit)
			if err != nil {
				return err
			}
			if !yes {
				fc.Confirm = a.confirm
			}
			res, err := fc.Run(cmd.Context(), f, nodes)
			code := map[int]int{sshconn.ContactDone: jobs.ExitOK, sshconn.ContactDeclined: jobs.ExitBlocked, sshconn.ContactFailed: jobs.ExitFailed}[res]
			if err != nil || code != jobs.ExitOK {
				return &exitError{code: code, err: err}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "record the new keys without asking")
	limitFlag(cmd.Flags(), &limit)
	cmd.Flags().IntVar(&fc.Parallel, "parallel", 8, "read at most N nodes at once")
	return cmd
}
