package jobs

import (
	"context"
	"fmt"
)

func init() {
	Register(runOp{name: "run"})
	Register(runOp{name: "sudo", sudo: true})
	Register(ping{})
}

// runOp is both run and sudo; sudo is run --sudo.
type runOp struct {
	name string
	sudo bool
}

func (o runOp) Info() Info {
	if o.sudo {
		return Info{
			Name: "sudo", Usage: "COMMAND [ARG...]",
			Doc:   "run a command on the node as root through sudo; the password is asked once per run and sent only to sudo",
			Hosts: []Host{Remote},
		}
	}
	return Info{
		Name: "run", Usage: "[--sudo] COMMAND [ARG...]",
		Doc:   "run a command (argv; one quoted string runs with sh -c); FAILED with its exit code and output tail when it exits non-zero",
		Hosts: []Host{Remote, Local},
	}
}

func (o runOp) Prepare(h Host, args []string) (Action, error) {
	fs := NewFlags(o.name, false)
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
	if sudo && h != Remote {
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

func (a runAction) Run(ctx context.Context, env Env) Result {
	c := Command{Argv: a.argv, Dir: env.Dir(), Stdout: env.Output(), Stderr: env.Output()}
	if a.sudo {
		return Sudo(ctx, env, c)
	}
	return ExitResult(env.Exec(ctx, c))
}

// ExitResult turns a command's exit into a job result: OK on 0, FAILED with
// the exit code otherwise.
func ExitResult(code int, err error) Result {
	switch {
	case err != nil:
		return Result{Status: Failed, Message: err.Error(), ExitCode: code}
	case code != 0:
		return Result{Status: Failed, Message: fmt.Sprintf("exit status %d", code), ExitCode: code}
	}
	return Result{Status: OK}
}

type ping struct{}

func (ping) Info() Info {
	return Info{Name: "ping", Doc: "do nothing on the node and return OK: a round trip through the agent", Hosts: []Host{Remote}}
}

func (ping) Prepare(_ Host, args []string) (Action, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return ping{}, nil
}

// Run implements Action.
func (ping) Run(context.Context, Env) Result { return Result{Status: OK} }
