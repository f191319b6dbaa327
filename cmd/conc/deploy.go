package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/concdeploy/conc/controller"
	"github.com/concdeploy/conc/jobs"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// deployOptions are the flags of deploy and run.
type deployOptions struct {
	plan              string
	targets           []string
	sudoPasswordFile  string
	sudoPasswordStdin bool
	parallel          int
}

func (o *deployOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.sudoPasswordFile, "sudo-password-file", "", "read the sudo password from the first line of FILE instead of asking")
	f.BoolVar(&o.sudoPasswordStdin, "sudo-password-stdin", false, "read the sudo password from the first line of stdin instead of asking")
	f.IntVar(&o.parallel, "parallel", 8, "deploy to at most N nodes at once")
}

func (a *app) deployCmd() *cobra.Command {
	o := &deployOptions{plan: "deploy"}
	cmd := &cobra.Command{
		Use:   "deploy NODE|GROUP...",
		Short: "run the plan named deploy on nodes",
		Long: `Run the plan [plan deploy] on each node, job by job. The run stops at the
first job that is not OK and prints what it left and how to continue.`,
		Example: "  conc deploy node1\n  conc -f site.ini deploy web --parallel 4",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr(errors.New("deploy needs a node or group (conc deploy NODE)"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.targets = args
			return a.runPlan(cmd.Context(), o, "deploy")
		},
	}
	o.flags(cmd)
	return cmd
}

func (a *app) runCmd() *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:     "run PLAN NODE|GROUP...",
		Short:   "run any plan on nodes",
		Example: "  conc run rollback node1",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErr(errors.New("run needs a plan and a node (conc run PLAN NODE)"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.plan, o.targets = args[0], args[1:]
			return a.runPlan(cmd.Context(), o, "run "+jobs.Quote(o.plan))
		},
	}
	o.flags(cmd)
	return cmd
}

// runPlan loads and checks everything, asks for secrets, then runs.
func (a *app) runPlan(ctx context.Context, o *deployOptions, verb string) error {
	f, err := a.load()
	if err != nil {
		return err
	}
	nodes, err := f.Targets(o.targets)
	if err != nil {
		return usageErr(err)
	}
	log, logFile, err := a.logger()
	if err != nil {
		return err
	}
	agents, err := a.getAgents()
	if err != nil {
		return err
	}
	rep := controller.NewReporter(a.stdout, logFile, a.verbose, isTerminal(a.stdout))
	defer rep.Close()
	opts := &controller.Options{
		File: f, Plan: o.plan, Agents: agents, Reporter: rep, Log: log, Verbose: a.verbose,
		StateDir: a.stateDir, Parallel: o.parallel, Invocation: a.invocation(), Verb: verb,
		Dial: controller.DialOptions{AcceptNewHostKeys: a.acceptNew},
	}
	if len(nodes) == 1 && isTerminal(a.stderr) {
		opts.Terminal = a.stderr
	}
	d, err := controller.New(opts, nodes)
	if err != nil {
		return usageErr(err)
	}
	if d.NeedsSudo() {
		pw, err := a.sudoPassword(o)
		if err != nil {
			return err
		}
		opts.Sudo = pw
	}
	if code := d.Run(ctx); code != jobs.ExitOK {
		return &exitError{code: code}
	}
	return nil
}

// sudoPassword reads the password once: from the file or stdin named by a
// flag, else from the terminal without echo. It is only ever held in
// memory.
func (a *app) sudoPassword(o *deployOptions) ([]byte, error) {
	switch {
	case o.sudoPasswordFile != "":
		f, err := os.Open(o.sudoPasswordFile)
		if err != nil {
			return nil, usageErr(fmt.Errorf("read the sudo password: %w", err))
		}
		defer f.Close()
		return firstLine(f)
	case o.sudoPasswordStdin:
		return firstLine(a.stdin)
	}
	in, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil, usageErr(errors.New("the plan runs sudo and stdin is not a terminal to ask for the password on; use --sudo-password-file FILE or --sudo-password-stdin"))
	}
	fmt.Fprint(a.stderr, "sudo password for the nodes: ")
	pw, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return nil, usageErr(fmt.Errorf("read the sudo password: %w", err))
	}
	return pw, nil
}

func firstLine(r io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, usageErr(fmt.Errorf("read the sudo password: %w", err))
	}
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return nil, usageErr(errors.New("the sudo password is empty"))
	}
	return line, nil
}
