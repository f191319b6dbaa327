// Package nodeops holds the built-in ops the agent runs on the node (and
// those of them that also run locally): run and sudo, the bundle's open and
// close, untar, virtualenvs and Python installs, pause and ping. The agent
// links them; the ops only the controller runs are in jobs/localops.
package nodeops

import "github.com/concdeploy/conc/jobs"

// Ops are the ops of this package, for a catalogue (jobs.NewCatalogue).
func Ops() []jobs.Op {
	return []jobs.Op{
		runOp{name: "run"}, runOp{name: "sudo", sudo: true}, ping{}, pause{},
		openBundle{}, closeBundle{}, untar{}, createVenv{}, setupInstall{}, pipInstall{},
	}
}
