//go:build !linux

package jobs

// The agent, the one process that contains its jobs, runs on Linux only.
// Elsewhere, as conc's controller on another Unix, a command's group is
// forgotten once os/exec has reaped its leader, and only a cancel, while
// the leader runs, kills the group.

// Contain does nothing here: there are no child subreapers to become.
func Contain() error { return nil }

// awaitExit cannot wait without reaping here.
func awaitExit(int) bool { return false }

func startTime(int) uint64 { return 0 }

func sweep(uint64) {}
