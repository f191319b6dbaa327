// Package deploy runs plans: for each node it steps through the jobs in
// order, local ones here and remote ones through the agent, journals each,
// stops where it must, and says what to do next. It carries out a resume
// that runstate decided, and runs node tests (conc test) the same way.
package deploy

import (
	"io"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/sshconn"

	"github.com/rs/zerolog"

	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/rollout"
	"github.com/concdeploy/conc/runreport"
)

// Options configure a run of one plan over one or more nodes.
type Options struct {
	File     *config.File
	Ops      *jobs.Catalogue // the ops the plan's steps use
	Plan     string
	Agents   agentclient.Agents
	Dial     sshconn.DialOptions
	Reporter *runreport.Reporter
	Log      zerolog.Logger // diagnostics: the agent's stderr, connection events
	Verbose  bool
	StateDir string // the local journal; default .conc/state next to the deploy file
	Sudo     []byte // the sudo password, when the plan needs one
	Parallel int    // nodes at once; default 8
	Rollout  rollout.Rollout
	// Terminal, when set, is the operator's terminal, for progress bars.
	Terminal io.Writer

	// Invocation is how the operator called conc, up to the subcommand
	// ("conc -f site.ini"), and Verb the subcommand with its plan ("deploy",
	// "run upgrade"), so hints print commands that work as they stand.
	Invocation string
	Verb       string

	// Resume continues the node's last unfinished run at its first job
	// that is not OK; From, a step (number, op, or op#k), at that step.
	Resume          bool
	From            string
	ForcePlanChange bool // resume even though the plan changed since the run began
	// StopBefore and StopAfter end the run STOPPED at a step.
	StopBefore, StopAfter string
	// Step, when set, is asked before each job (--step).
	Step Stepper
	// DryRun checks and previews the plan on each node instead of running
	// it, changing nothing there (package preflight).
	DryRun bool
}

// Stepper is asked before each job whether to run it.
type Stepper interface {
	Ask(node string, step, steps int, job jobs.Job) StepAnswer
}

// StepAnswer is the operator's answer to a Stepper's question.
type StepAnswer int

// The answers of --step: y, n, s and c.
const (
	StepRun  StepAnswer = iota // run this job
	StepSkip                   // skip it, journaled as skipped
	StepStop                   // stop here, STOPPED
	StepAll                    // run this and the rest without asking
)
