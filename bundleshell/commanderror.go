package bundleshell

import (
	"errors"
	"io/fs"

	"github.com/concdeploy/conc/bundlefs"
)

// CommandError is a failed command of the shell: the command, the path it
// failed on as the operator typed it ("" when none did), and why.
type CommandError struct {
	Cmd   string
	Path  string
	Local bool // Path is on this machine, not in the bundle
	Err   error
}

// Error reads "cat config/missing.txt: no such file in the bundle".
func (e *CommandError) Error() string {
	var oe *bundlefs.OutsideError
	switch {
	case errors.As(e.Err, &oe):
		return e.Cmd + ": " + oe.Error() // it names the path itself
	case e.Path == "":
		return e.Cmd + ": " + e.Err.Error()
	}
	return e.Cmd + " " + e.Path + ": " + e.reason()
}

// Unwrap returns the cause.
func (e *CommandError) Unwrap() error { return e.Err }

// reason says why, without the path and the operation the cause may
// repeat.
func (e *CommandError) reason() string {
	where := "in the bundle"
	if e.Local {
		where = "on this machine"
	}
	switch {
	case errors.Is(e.Err, fs.ErrNotExist):
		return "no such file " + where
	case errors.Is(e.Err, fs.ErrPermission):
		return "permission denied " + where
	case errors.Is(e.Err, fs.ErrExist):
		return "it already exists " + where
	}
	var pe *fs.PathError
	if errors.As(e.Err, &pe) && e.Local {
		return pe.Err.Error()
	}
	return e.Err.Error()
}

// failed wraps err as failing on the path p in the bundle.
func failed(p string, err error) error {
	if err == nil {
		return nil
	}
	return &CommandError{Path: p, Err: err}
}

// failedHere wraps err as failing on the path p on this machine.
func failedHere(p string, err error) error {
	if err == nil {
		return nil
	}
	return &CommandError{Path: p, Local: true, Err: err}
}
