package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/spf13/cobra"
)

// complete gives each command's arguments and step flags completions from
// the deploy file: nodes, groups, plans, and a plan's step numbers and op
// names. A file that does not load completes nothing.
func (a *app) complete(root *cobra.Command) {
	load := func() (*config.File, error) {
		files := a.files
		if len(files) == 0 {
			wd, _ := os.Getwd()
			files = []string{config.Find(wd)} // the hooks run before cobra's
		}
		return config.Load(files...)
	}
	list := func(what func(f *config.File, args []string) []string) cobra.CompletionFunc {
		return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			f, err := load()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return what(f, args), cobra.ShellCompDirectiveNoFileComp
		}
	}
	targets := list(func(f *config.File, _ []string) []string { return append(f.NodeNames(), f.GroupNames()...) })
	one := func(c cobra.CompletionFunc) cobra.CompletionFunc {
		return func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return c(cmd, args, s)
		}
	}
	plans := list(func(f *config.File, _ []string) []string { return f.PlanNames() })
	steps := func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		f, err := load()
		plan := "deploy"
		if cmd.Name() == "run" && len(args) > 0 {
			plan = args[0]
		}
		var raw []config.RawStep
		if err == nil {
			raw, _ = f.RawPlan(plan)
		}
		var out []string
		for _, st := range raw {
			if words, _ := jobs.Split(st.Line); len(words) > 1 {
				out = append(out, fmt.Sprintf("%d\t%s", st.Number, strings.Join(words, " ")), words[1])
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	for _, cmd := range root.Commands() {
		switch cmd.Name() {
		case "deploy", "test", "status", "hostkeys", "check", "cache":
			cmd.ValidArgsFunction = targets
		case "config", "unlock", "bundle", "ssh":
			cmd.ValidArgsFunction = one(list(func(f *config.File, _ []string) []string { return f.NodeNames() }))
		case "plan":
			cmd.ValidArgsFunction = one(plans)
		case "run":
			cmd.ValidArgsFunction = func(c *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
				if len(args) == 0 {
					return plans(c, args, s)
				}
				return targets(c, args, s)
			}
		}
		if cmd.Flags().Lookup("plan") != nil {
			cmd.RegisterFlagCompletionFunc("plan", plans)
		}
		for _, flag := range []string{"from", "stop-before", "stop-after"} {
			if cmd.Flags().Lookup(flag) != nil {
				cmd.RegisterFlagCompletionFunc(flag, steps)
			}
		}
	}
}
