package main

import (
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/concdeploy/conc/config"
	"github.com/spf13/cobra"
)

func (a *app) configCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "config NODE",
		Short: "print a node's resolved params, with the file and line each came from",
		Long: `Print the params of NODE after resolution (built-in defaults < [defaults] <
its groups < [node NODE]) and ${key} substitution, one "key = value" per line,
with where the value was set. Values of keys that look secret are redacted.`,
		Args: exactArgs(1, "a node name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, n, err := a.oneNode(args[0])
			if err != nil {
				return err
			}
			keys := make([]string, 0, len(n.Params))
			for k := range n.Params {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			w := tabwriter.NewWriter(a.stdout, 0, 4, 1, ' ', 0)
			for _, k := range keys {
				p := n.Params[k]
				v := p.Value
				if config.IsSecret(k) {
					v = "<redacted>"
				}
				fmt.Fprintf(w, "%s = %s\t; %s\n", k, v, p.Pos)
			}
			return w.Flush()
		},
	}
}
