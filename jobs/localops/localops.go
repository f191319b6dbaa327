// Package localops holds the ops that only the controller runs: on the
// workstation, or against the node over SFTP. They live apart from package
// jobs so that the agent, which links jobs, does not carry their code
// (SFTP transfer, sshfs, text/template) and stays small.
package localops

import "github.com/concdeploy/conc/jobs"

// Ops are the ops of this package, for a catalogue (jobs.NewCatalogue).
func Ops() []jobs.Op {
	return []jobs.Op{put{}, copyProduct{}, templateOp{}, mountSSHFS{}, unmountSSHFS{}}
}
