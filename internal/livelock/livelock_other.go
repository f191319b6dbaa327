//go:build !linux

package livelock

import (
	"errors"
	"os"
)

// The agent runs on Linux nodes only; these keep the package building
// elsewhere, for the tools that read it.

var errNoLiveLock = errors.New("the live lock needs Linux")

func Lock(*os.File) error                  { return errNoLiveLock }
func Held(*os.File) (bool, error)          { return false, errNoLiveLock }
func HeldBy(string, int) bool              { return false }
func RenameNoReplace(string, string) error { return errNoLiveLock }
