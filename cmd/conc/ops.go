package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) opsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ops",
		Short: "list the ops a step can use, with where they run and what they do",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			for _, op := range ops.All() {
				i := op.Info()
				hosts := make([]string, len(i.Hosts))
				for k, h := range i.Hosts {
					hosts[k] = string(h)
				}
				fmt.Fprintf(w, "%s %s\t%s\t%s\n", i.Name, i.Usage, strings.Join(hosts, ","), i.Doc)
			}
			return w.Flush()
		},
	}
}
