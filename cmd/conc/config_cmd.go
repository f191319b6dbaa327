package main

import (
	"github.com/concdeploy/conc/sshconn"
	"github.com/concdeploy/conc/sshtarget"
	"github.com/spf13/cobra"
)

func (a *app) configCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "config NODE",
		Short: "print a node's resolved params, with the file and line each came from",
		Long: `Print the params of NODE after resolution (built-in defaults < [defaults] <
its groups < [node NODE]) and ${key} substitution, one "key = value" per line,
with where the value was set. Values of keys that look secret are redacted.
Connection settings taken from ssh_config (~/.ssh/config, or the file the
ssh_config param names) show with that file and line.`,
		Args: exactArgs(1, "a node name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, n, err := a.oneNode(args[0])
			if err != nil {
				return err
			}
			t, err := sshconn.TargetOf(n, f.Dir)
			if err != nil {
				return err
			}
			return sshtarget.PrintParams(a.stdout, n, t)
		},
	}
}
