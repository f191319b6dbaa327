package prompt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// SudoSource is where the sudo password comes from: the flags of the
// commands that may run sudo on a node.
type SudoSource struct {
	Ask   bool   // --sudo: ask even though nothing declares sudo
	File  string // --sudo-password-file
	Stdin bool   // --sudo-password-stdin
}

// ErrNoTerminal says that the password was to be asked for, and there is
// no terminal to ask on.
var ErrNoTerminal = errors.New("a step or test runs sudo, and stdin is not a terminal to ask for the password on; use --sudo-password-file FILE or --sudo-password-stdin")

// Password reads the sudo password when the run needs it, or the operator
// asked for it or named where it is; else it returns nil. It is read once:
// from the file or stdin named by a flag, else from terminal (nil when
// stdin is none) without echo, and only ever held in memory. Ctrl-C at the
// prompt returns ErrStopped.
func (s SudoSource) Password(ctx context.Context, stdin io.Reader, terminal *os.File, out io.Writer, needed bool) ([]byte, error) {
	var pw []byte
	var err error
	switch {
	case s.File != "":
		var f *os.File
		if f, err = os.Open(s.File); err == nil {
			defer f.Close()
			pw, err = FirstLine(f)
		}
	case s.Stdin:
		pw, err = FirstLine(stdin)
	case !needed && !s.Ask:
		return nil, nil
	case terminal == nil:
		return nil, ErrNoTerminal
	default:
		pw, err = Password(ctx, terminal, out, "sudo password for the nodes: ")
	}
	if err != nil && !errors.Is(err, ErrStopped) {
		err = fmt.Errorf("read the sudo password: %w", err)
	}
	return pw, err
}
