package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) planCmd() *cobra.Command {
	var node string
	cmd := &cobra.Command{
		Use:   "plan [PLAN]",
		Short: "list the plans, or a plan's steps with their numbers",
		Long: `Without PLAN, list the plans of the deploy file. With PLAN, list its steps
with the numbers that --from, --stop-before and --stop-after take. With
--node, show the steps as they resolve for that node, checked.`,
		Example: "  conc plan\n  conc plan deploy --node node1",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := a.load()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			defer w.Flush()
			if len(args) == 0 {
				for _, name := range f.PlanNames() {
					steps, _ := f.RawPlan(name)
					fmt.Fprintf(w, "%s\t%d steps\n", name, len(steps))
				}
				return nil
			}
			if node != "" {
				n, err := f.Node(node)
				if err != nil {
					return usageErr(err)
				}
				p, err := f.Plan(ops, args[0], n)
				if err != nil {
					return usageErr(err)
				}
				for _, st := range p.Steps {
					fmt.Fprintf(w, "%3d\t%s\t; %s\n", st.Number, st.Job, st.Pos)
				}
				return nil
			}
			steps, err := f.RawPlan(args[0])
			if err != nil {
				return usageErr(err)
			}
			for _, st := range steps {
				fmt.Fprintf(w, "%3d\t%s\t; %s\n", st.Number, st.Line, st.Pos)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "resolve the plan for NODE")
	return cmd
}
