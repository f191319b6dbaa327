package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/prompt"
	"github.com/spf13/cobra"
)

// sudoFlags are the flags of the commands that may run sudo on a node.
type sudoFlags struct {
	ask   bool   // --sudo: ask even though nothing declares sudo
	file  string // --sudo-password-file
	stdin bool   // --sudo-password-stdin
}

func (s *sudoFlags) register(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.BoolVar(&s.ask, "sudo", false, "ask for the sudo password even though no "+what+" declares sudo (for Go node tests that call T.Sudo)")
	f.StringVar(&s.file, "sudo-password-file", "", "read the sudo password from the first line of FILE instead of asking")
	f.BoolVar(&s.stdin, "sudo-password-stdin", false, "read the sudo password from the first line of stdin instead of asking")
}

// password reads the sudo password when the run needs it, or the operator
// asked for it or named where it is; else it returns nil. It is read once:
// from the file or stdin named by a flag, else from the terminal without
// echo, and only ever held in memory.
func (s *sudoFlags) password(a *app, needed bool) ([]byte, error) {
	switch {
	case s.file != "":
		f, err := os.Open(s.file)
		if err != nil {
			return nil, usageErr(fmt.Errorf("read the sudo password: %w", err))
		}
		defer f.Close()
		return firstLine(f)
	case s.stdin:
		return firstLine(a.stdin)
	case !needed && !s.ask:
		return nil, nil
	}
	in, ok := a.terminalIn()
	if !ok {
		return nil, usageErr(errors.New("a step or test runs sudo, and stdin is not a terminal to ask for the password on; use --sudo-password-file FILE or --sudo-password-stdin"))
	}
	pw, err := prompt.Password(a.ctx, in, a.stderr, "sudo password for the nodes: ")
	if errors.Is(err, prompt.ErrStopped) {
		return nil, &exitError{code: jobs.ExitStopped, err: errors.New("stopped at the sudo password prompt; nothing was done")}
	}
	if err != nil {
		return nil, usageErr(fmt.Errorf("read the sudo password: %w", err))
	}
	return pw, nil
}

func firstLine(r io.Reader) ([]byte, error) {
	pw, err := prompt.FirstLine(r)
	if err != nil {
		return nil, usageErr(fmt.Errorf("read the sudo password: %w", err))
	}
	return pw, nil
}
