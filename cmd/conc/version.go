package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print conc's version and the agents it carries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.stdout, "conc %s\n", version)
			agents, err := a.getAgents()
			if err != nil {
				fmt.Fprintf(a.stdout, "agents: none (%v)\n", err)
				return nil
			}
			for _, arch := range agents.Archs() {
				b := agents[arch]
				data, err := b.Bytes()
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "agent linux/%s sha256 %s (%d bytes)\n", arch, b.Hash, len(data))
			}
			return nil
		},
	}
}
