package deploy

import (
	"context"

	"github.com/concdeploy/conc/bundlefs"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/localops"
)

var _ localops.StoreReacher = (*localEnv)(nil)

// Store implements localops.StoreReacher: the node's store of bundle
// files, through the agent that holds the run's bundle, unless the node's
// store_limit is 0. Its progress bar is drawn where SFTP copies draw it.
func (e *localEnv) Store(context.Context) (localops.NodeStore, error) {
	if limit := e.n.storeLimit(); limit > 0 {
		return e.n.agent.NodeStore(limit, func(what string, total int64) jobs.Progress {
			return bundlefs.NewProgress(e.n.opts.Terminal, what, total)
		}), nil
	}
	return nil, nil
}

// storeLimit is what the node's store keeps to, 0 when a copy does not
// go through it (store_limit = 0, checked at load, or no agent).
func (n *nodeRun) storeLimit() int64 {
	if limit, _ := n.node.StoreLimit(); n.agent != nil {
		return limit
	}
	return 0
}
