package nodeops

import (
	"context"
	"fmt"

	"github.com/concdeploy/conc/jobs"
)

// runOp is both run and sudo; sudo is run --sudo.
type runOp struct {
	name string
	sudo bool
}

func (o runOp) Info() jobs.Info {
	if o.sudo {
		return jobs.Info{
			Name: "sudo", Usage: "COMMAND [ARG...]",
			Doc:   "run a command on the node as root through sudo; the password is asked once per run and sent only to sudo",
			Hosts: []jobs.Host{jobs.Remote},
		}
	}
	return jobs.Info{
		Name: "run", Usage: "[--sudo] COMMAND [ARG...]",
		Doc:   "run a command (argv; one quoted string runs with sh -c); FAILED with its exit code and output tail when it exits non-zero",
		Hosts: []jobs.Host{jobs.Remote, jobs.Local},
	}
}

func (o runOp) Prepare(h jobs.Host, args []string) (jobs.Action, error) {
	fs := jobs.NewFlags(o.name, false)
	sudo := o.sudo
	if !o.sudo {
		fs.BoolVar(&sudo, "sudo", false, "run through sudo")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return nil, fmt.Errorf("needs a command")
	}
	if sudo && h != jobs.Remote {
		return nil, fmt.Errorf("--sudo runs on the node only")
	}
	if len(argv) == 1 {
		// One string is a shell command line, written by the operator in
		// the deploy file: the one place conc runs a shell on purpose.
		argv = []string{"/bin/sh", "-c", argv[0]}
	}
	return runAction{argv: argv, sudo: sudo}, nil
}

type runAction struct {
	argv []string
	sudo bool
}

// NeedsSudo implements SudoUser.
func (a runAction) NeedsSudo() bool { return a.sudo }

func (a runAction) Run(ctx context.Context, env jobs.Env) jobs.Result {
	c := jobs.Command{Argv: a.argv, Dir: env.Dir(), Stdout: env.Output(), Stderr: env.Output()}
	if a.sudo {
		return jobs.Sudo(ctx, env, c)
	}
	return jobs.ExitResult(env.Exec(ctx, c))
}

type ping struct{}

func (ping) Info() jobs.Info {
	return jobs.Info{Name: "ping", Doc: "do nothing on the node and return OK: a round trip through the agent", Hosts: []jobs.Host{jobs.Remote}}
}

func (ping) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return ping{}, nil
}

// Run implements Action.
func (ping) Run(context.Context, jobs.Env) jobs.Result { return jobs.Result{Status: jobs.OK} }
