package main

import (
	"errors"
	"fmt"

	"github.com/concdeploy/conc/deploy"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/nodelock"
	"github.com/concdeploy/conc/prompt"
	"github.com/spf13/cobra"
)

// unlockOptions are the flags of conc unlock.
type unlockOptions struct {
	yes   bool
	force bool
}

func (a *app) unlockCmd() *cobra.Command {
	o := &unlockOptions{}
	cmd := &cobra.Command{
		Use:   "unlock NODE",
		Short: "remove a node's lock (its bundle) left by a run that is gone",
		Long: `Show the node's lock record and, once you confirm, remove its bundle, which is
the lock. This is the only way conc removes a lock it does not hold; it gives
up on that run, which can then no longer be resumed.

The node's agent removes the bundle only if the lock is still the one you
confirmed: if a run resumed or took the node meanwhile, nothing is removed and
conc says the lock changed hands. It takes the bundle's kernel lock first and
moves the bundle aside before removing it, so a run can never lose its bundle
to an unlock it did not see coming. A lock held by a live run is refused;
--force stops that run's agent (SIGUSR1, then SIGKILL after 10s), which kills
its job and tells its conc that the run lost the lock, and then removes the
bundle. The removal is logged, in the --log-file and in
~/.cache/conc/unlocks.log on the node.`,
		Example: "  conc unlock node1\n  conc unlock node1 --yes",
		Args:    exactArgs(1, "a node name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.unlock(cmd, args[0], o)
		},
	}
	cmd.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.force, "force", false, "stop the live run that holds the lock, then unlock")
	return cmd
}

func (a *app) unlock(cmd *cobra.Command, name string, o *unlockOptions) error {
	f, n, err := a.oneNode(name)
	if err != nil {
		return err
	}
	log, _, agents, err := a.logger()
	if err != nil {
		return err
	}
	c, err := a.dial(cmd.Context(), f, n)
	if err != nil {
		return err
	}
	defer c.Close()
	u := nodelock.Unlocker{Out: a.stdout, Force: o.force, Log: log,
		Release: func() (string, error) { return deploy.ReleaseLocal(cmd.Context(), f, n) }}
	if !o.yes {
		u.Confirm = a.confirm
	}
	err = u.Run(cmd.Context(), c, agents, n)
	switch {
	case errors.Is(err, nodelock.ErrDeclined):
		return &exitError{code: jobs.ExitStopped, err: err}
	case errors.Is(err, nodelock.ErrLive), errors.Is(err, nodelock.ErrChanged), errors.Is(err, nodelock.ErrBusy):
		return &exitError{code: jobs.ExitBlocked, err: err}
	}
	return err
}

// confirm asks a yes/no question on the terminal; without one it refuses
// to guess.
func (a *app) confirm(question string) (bool, error) {
	if a.ask != nil {
		return a.ask(question)
	}
	in, ok := a.terminalIn()
	if !ok {
		return false, usageErr(errors.New("stdin is not a terminal to confirm on; pass --yes to go on without asking"))
	}
	fmt.Fprint(a.stderr, question)
	yes := prompt.ReadYes(a.ctx, in)
	if !yes && a.ctx != nil && a.ctx.Err() != nil {
		fmt.Fprintln(a.stderr)
	}
	return yes, nil
}
