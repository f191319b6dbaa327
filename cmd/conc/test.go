package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/nodelock"
	"github.com/concdeploy/conc/nodetest"
	"github.com/concdeploy/conc/nodetest/report"
	"github.com/concdeploy/conc/testrun"
	"github.com/spf13/cobra"
	"os"
)

// testOptions are the flags of conc test.
type testOptions struct {
	run      string
	junit    string
	json     bool
	sudo     sudoFlags
	parallel int
	limit    string
}

func (a *app) testCmd() *cobra.Command {
	o := &testOptions{}
	cmd := &cobra.Command{
		Use:   "test NODE|GROUP...",
		Short: "run node tests on nodes through the agent and report them like a test runner",
		Long: `Run the node's tests on each node: the [test NAME] sections of the deploy file
that apply to it (nodes = / groups =, or all nodes), then the Go tests
registered in the agent. Results stream back as each test ends and print like
go test -v (=== RUN, --- PASS, --- FAIL with the message, --- SKIP), then a
summary line. conc test does not take the deploy lock, since tests only read;
when a node is locked it says so and runs anyway.

A [test NAME] section makes one check and asserts on it:
  run = COMMAND          with expect, expect_regex, expect_exit (default 0), sudo = yes
  file = PATH            with mode, owner, contains, expect, expect_regex
  port = [IP:]PORT       something listens (IP address or localhost)
  python = VENV MODULE   the module imports in that venv
  http = URL             with expect_status (default 200), expect, expect_regex
and takes timeout = DURATION (default 30s) and skip = REASON.

Exit status: 0 every test passed or was skipped, 1 any failed or could not
run, 2 a usage or deploy-file error.`,
		Example: "  conc test node1\n  conc test web --run 'app|port' --junit results.xml\n  conc test node1 --json",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr(fmt.Errorf("test needs a node or group (conc test NODE)"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.test(cmd, args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.run, "run", "", "run only the tests whose names match REGEX (also -run)")
	f.StringVar(&o.junit, "junit", "", "write JUnit XML to FILE, one testsuite per node")
	f.BoolVar(&o.json, "json", false, "print one JSON object per result instead of text")
	o.sudo.register(cmd, "test")
	f.IntVar(&o.parallel, "parallel", 8, "test at most N nodes at once")
	limitFlag(f, &o.limit)
	return cmd
}

func (a *app) test(cmd *cobra.Command, args []string, o *testOptions) error {
	f, nodes, err := a.loadTargets(args, o.limit)
	if err != nil {
		return err
	}
	if o.junit != "" {
		// Found unwritable now, not after every test ran.
		if err := os.WriteFile(o.junit, nil, 0o644); err != nil {
			return usageErr(fmt.Errorf("--junit: %w", err))
		}
	}
	log, _, agents, err := a.logger()
	if err != nil {
		return err
	}
	pr := &report.Printer{Out: a.stdout, Err: a.stderr, JSON: o.json, Grouped: len(nodes) > 1 && o.parallel > 1}
	var results report.Collector
	opts := &testrun.TestOptions{
		File: f, Agents: agents, Filter: o.run, Log: log, Parallel: o.parallel,
		Dial: a.dialOptions(),
		Header: func(node string, st *nodelock.NodeStatus, err error) {
			results.Node(node)
			if !o.json {
				pr.Line(nodelock.TestHeader(node, st, err))
			}
		},
		Event: func(node string, e nodetest.Event) { results.Add(node, e); pr.Event(node, e) },
		Done:  pr.Done,
	}
	run, err := testrun.NewTestRun(opts, nodes)
	if err != nil {
		return usageErr(err)
	}
	if opts.Sudo, err = o.sudo.password(a, run.NeedsSudo()); err != nil {
		return err
	}
	start := time.Now()
	code := run.Run(cmd.Context())
	if o.junit != "" {
		if err := results.WriteJUnitFile(o.junit); err != nil {
			return err
		}
	}
	log.Debug().Dur("took", time.Since(start)).Int("code", code).Msg("tests done")
	if code == jobs.ExitOK && o.run != "" && results.Tests() == 0 {
		return &exitError{code: jobs.ExitFailed, err: fmt.Errorf("no test matches --run %q on any node: nothing was tested", o.run)}
	}
	if code != jobs.ExitOK {
		return &exitError{code: code}
	}
	return nil
}

// goTestFlags lets conc test take -run, as go test does; pflag would read
// it as -r -u -n. Only what follows the test subcommand is rewritten.
func goTestFlags(args []string) []string {
	out := make([]string, len(args))
	inTest := false
	for i, a := range args {
		if inTest && (a == "-run" || strings.HasPrefix(a, "-run=")) {
			a = "-" + a
		}
		inTest = inTest || a == "test"
		out[i] = a
	}
	return out
}
