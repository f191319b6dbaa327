package deploy

import (
	"context"

	"github.com/concdeploy/conc/jobs/localops"
)

var _ localops.StoreReacher = (*localEnv)(nil)

// Store implements localops.StoreReacher: the node's store of bundle
// files, through the agent that holds the run's bundle, unless the node's
// store_limit is 0.
func (e *localEnv) Store(context.Context) (localops.NodeStore, error) {
	limit, err := e.n.node.StoreLimit()
	if err != nil || limit == 0 || e.n.agent == nil {
		return nil, err
	}
	return e.n.agent.NodeStore(limit), nil
}
