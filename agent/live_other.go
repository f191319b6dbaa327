//go:build !linux

package agent

import (
	"errors"
	"os"
)

// The agent runs on Linux nodes only; these keep the package building
// elsewhere, for the tools that read it.

var errNoLiveLock = errors.New("the live lock needs Linux")

func lockLive(*os.File) error              { return errNoLiveLock }
func liveHeld(*os.File) (bool, error)      { return false, errNoLiveLock }
func holdsLive(string, int) bool           { return false }
func renameNoReplace(string, string) error { return errNoLiveLock }
