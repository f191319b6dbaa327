// Package jobs defines what a deploy is made of: jobs, the hosts they run on,
// their statuses, the Op interface with its registry, and the built-in ops.
// Ops see their host only through the small Env interface, so the same op
// code runs in the controller (local jobs) and in the agent (remote jobs).
package jobs

// Status is a job's outcome. The strings are part of conc's contract: they
// appear in output, logs, the journal and the channel.
type Status string

// The statuses of DESIGN.md.
const (
	OK       Status = "OK"
	Blocked  Status = "BLOCKED"
	Failed   Status = "FAILED"
	Stopped  Status = "STOPPED"
	Error    Status = "ERROR"
	TimedOut Status = "TIMED OUT"
)

// Exit codes of the conc command.
const (
	ExitOK      = 0
	ExitFailed  = 1 // FAILED, ERROR, TIMED OUT
	ExitUsage   = 2 // usage or deploy-file error, before any connection
	ExitBlocked = 3
	ExitStopped = 4
)

// ExitCode maps a status to conc's exit code.
func (s Status) ExitCode() int {
	switch s {
	case OK:
		return ExitOK
	case Blocked:
		return ExitBlocked
	case Stopped:
		return ExitStopped
	default:
		return ExitFailed
	}
}

// Valid reports whether s is one of the six statuses.
func (s Status) Valid() bool {
	switch s {
	case OK, Blocked, Failed, Stopped, Error, TimedOut:
		return true
	}
	return false
}

// severity orders exit codes for a run over several nodes: the exit code is
// the most severe one, a usage error above a failure above a block above a
// stop.
var severity = map[int]int{ExitOK: 0, ExitStopped: 1, ExitBlocked: 2, ExitFailed: 3, ExitUsage: 4}

// Worse returns the status of the two whose exit code is more severe.
func Worse(a, b Status) Status {
	if WorseExit(a.ExitCode(), b.ExitCode()) != a.ExitCode() {
		return b
	}
	return a
}

// WorseExit returns the more severe of two exit codes.
func WorseExit(a, b int) int {
	if severity[b] > severity[a] {
		return b
	}
	return a
}
