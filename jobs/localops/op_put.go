package localops

import (
	"github.com/concdeploy/conc/jobs"
)

// put is copy_product for files only: each lands in the bundle (or --to)
// under its own name.
type put struct{}

func (put) Info() jobs.Info {
	return jobs.Info{
		Name: "put", Usage: "GLOB... [--to DIR]",
		Doc:   "upload local files matching the globs into the node's bundle (or DIR inside it) over SFTP, only those the node's store lacks; directories are copy_product's",
		Hosts: []jobs.Host{jobs.Local}, Bundle: jobs.WritesBundle,
	}
}

func (put) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	a, err := parseTransfer("put", args)
	if err != nil {
		return nil, err
	}
	a.filesOnly = true
	return a, nil
}
