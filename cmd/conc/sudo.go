package main

import (
	"errors"

	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/prompt"
	"github.com/spf13/cobra"
)

// sudoFlags are the flags of the commands that may run sudo on a node.
type sudoFlags struct{ prompt.SudoSource }

func (s *sudoFlags) register(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.BoolVar(&s.Ask, "sudo", false, "ask for the sudo password even though no "+what+" declares sudo (for Go node tests that call T.Sudo)")
	f.StringVar(&s.File, "sudo-password-file", "", "read the sudo password from the first line of FILE instead of asking")
	f.BoolVar(&s.Stdin, "sudo-password-stdin", false, "read the sudo password from the first line of stdin instead of asking")
}

// password reads the sudo password, if the run needs it (prompt.SudoSource).
func (s *sudoFlags) password(a *app, needed bool) ([]byte, error) {
	in, _ := a.terminalIn()
	pw, err := s.Password(a.ctx, a.stdin, in, a.stderr, needed)
	switch {
	case errors.Is(err, prompt.ErrStopped):
		return nil, &exitError{code: jobs.ExitStopped, err: errors.New("stopped at the sudo password prompt; nothing was done")}
	case err != nil:
		return nil, usageErr(err)
	}
	return pw, nil
}
