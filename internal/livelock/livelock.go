// Package livelock is the kernel lock an agent holds on its bundle for as
// long as it lives, and the Linux file primitives around it: an open file
// description (OFD) lock that can be tested without being taken, a rename
// that never replaces, and whether a process holds the lock file open for
// writing. The agent's liveness, exact and without a clock, rests on it.
package livelock

import "errors"

// ErrHeld is returned by Lock when another open file holds the lock.
var ErrHeld = errors.New("a live run holds the bundle")
