package nodeops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/concdeploy/conc/jobs"
)

// The bundle ops. On the node, open_bundle takes the lock and close_bundle
// releases it; the controller runs remote open_bundle itself, because it is
// what starts the agent.
const (
	OpOpenBundle  = "open_bundle"
	OpCloseBundle = "close_bundle"
)

type openBundle struct{}

func (openBundle) Info() jobs.Info {
	return jobs.Info{
		Name: OpOpenBundle, Usage: "",
		Doc:   "create the bundle: on the node it is the lock (BLOCKED if it exists) and starts the agent; locally it is the mount point",
		Hosts: []jobs.Host{jobs.Remote, jobs.Local},
		// The controller runs remote open_bundle itself: it is what
		// starts the agent.
		InController: true, Bundle: jobs.OpensBundle,
	}
}

func (openBundle) Prepare(h jobs.Host, args []string) (jobs.Action, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	if h == jobs.Remote {
		return remoteOpenBundle{}, nil
	}
	return localOpenBundle{}, nil
}

// remoteOpenBundle is run by the controller; an agent never receives it.
type remoteOpenBundle struct{}

func (remoteOpenBundle) Run(context.Context, jobs.Env) jobs.Result {
	return jobs.Resultf(jobs.Error, "remote open_bundle runs in the controller, not the agent")
}

type localOpenBundle struct{}

func (localOpenBundle) Run(_ context.Context, env jobs.Env) jobs.Result {
	dir := env.Bundle()
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return jobs.Resultf(jobs.Failed, "create the parent of the local bundle: %v", err)
	}
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		return jobs.Resultf(jobs.Blocked, "the local bundle %s exists: another deploy of %s from this workstation, or a stopped one (conc status %s)", dir, env.Node(), env.Node())
	}
	if err != nil {
		return jobs.Resultf(jobs.Failed, "create the local bundle: %v", err)
	}
	return jobs.Resultf(jobs.OK, "%s", dir)
}

type closeBundle struct{}

func (closeBundle) Info() jobs.Info {
	return jobs.Info{
		Name: OpCloseBundle, Usage: "",
		Doc:    "remove the bundle: on the node this releases the lock; locally it removes the mount point",
		Hosts:  []jobs.Host{jobs.Remote, jobs.Local},
		Bundle: jobs.ClosesBundle,
	}
}

func (closeBundle) Prepare(h jobs.Host, args []string) (jobs.Action, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return closeBundleAction{}, nil
}

type closeBundleAction struct{}

func (closeBundleAction) Run(_ context.Context, env jobs.Env) jobs.Result {
	dir := env.Bundle()
	if r, ok := env.(jobs.BundleRemover); ok {
		switch err := r.RemoveBundle(); {
		case errors.Is(err, jobs.ErrBundleLost):
			return jobs.Resultf(jobs.Error, "%v", err)
		case err != nil:
			return jobs.Resultf(jobs.Failed, "%v", err)
		}
		return jobs.Resultf(jobs.OK, "removed %s", dir)
	}
	if env.Host() == jobs.Local {
		mounted, err := jobs.IsMountPoint(dir)
		if err != nil {
			return jobs.Resultf(jobs.Failed, "check whether %s is mounted: %v", dir, err)
		}
		if mounted {
			return jobs.Resultf(jobs.Failed, "%s is still mounted; run unmount_sshfs before close_bundle", dir)
		}
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return jobs.Resultf(jobs.OK, "%s was already gone", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return jobs.Resultf(jobs.Failed, "remove %s: %v", dir, err)
	}
	return jobs.Resultf(jobs.OK, "removed %s", dir)
}
