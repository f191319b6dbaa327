package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The bundle ops. On the node, open_bundle takes the lock and close_bundle
// releases it; the controller runs remote open_bundle itself, because it is
// what starts the agent.
const (
	OpOpenBundle  = "open_bundle"
	OpCloseBundle = "close_bundle"
)

func init() {
	Register(openBundle{})
	Register(closeBundle{})
}

type openBundle struct{}

func (openBundle) Info() Info {
	return Info{
		Name: OpOpenBundle, Usage: "",
		Doc:   "create the bundle: on the node it is the lock (BLOCKED if it exists) and starts the agent; locally it is the mount point",
		Hosts: []Host{Remote, Local},
	}
}

func (openBundle) Prepare(h Host, args []string) (Action, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	if h == Remote {
		return remoteOpenBundle{}, nil
	}
	return localOpenBundle{}, nil
}

// remoteOpenBundle is run by the controller; an agent never receives it.
type remoteOpenBundle struct{}

// InController implements InController: it is what starts the agent.
func (remoteOpenBundle) InController() {}

func (remoteOpenBundle) Run(context.Context, Env) Result {
	return Resultf(Error, "remote open_bundle runs in the controller, not the agent")
}

type localOpenBundle struct{}

func (localOpenBundle) Run(_ context.Context, env Env) Result {
	dir := env.Bundle()
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return Resultf(Failed, "create the parent of the local bundle: %v", err)
	}
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		return Resultf(Blocked, "the local bundle %s exists: another deploy of %s from this workstation, or a stopped one (conc status %s)", dir, env.Node(), env.Node())
	}
	if err != nil {
		return Resultf(Failed, "create the local bundle: %v", err)
	}
	return Resultf(OK, "%s", dir)
}

type closeBundle struct{}

func (closeBundle) Info() Info {
	return Info{
		Name: OpCloseBundle, Usage: "",
		Doc:   "remove the bundle: on the node this releases the lock; locally it removes the mount point",
		Hosts: []Host{Remote, Local},
	}
}

func (closeBundle) Prepare(h Host, args []string) (Action, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return closeBundleAction{}, nil
}

type closeBundleAction struct{}

func (closeBundleAction) Run(_ context.Context, env Env) Result {
	dir := env.Bundle()
	if r, ok := env.(BundleRemover); ok {
		switch err := r.RemoveBundle(); {
		case errors.Is(err, ErrBundleLost):
			return Resultf(Error, "%v", err)
		case err != nil:
			return Resultf(Failed, "%v", err)
		}
		return Resultf(OK, "removed %s", dir)
	}
	if env.Host() == Local {
		mounted, err := IsMountPoint(dir)
		if err != nil {
			return Resultf(Failed, "check whether %s is mounted: %v", dir, err)
		}
		if mounted {
			return Resultf(Failed, "%s is still mounted; run unmount_sshfs before close_bundle", dir)
		}
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return Resultf(OK, "%s was already gone", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return Resultf(Failed, "remove %s: %v", dir, err)
	}
	return Resultf(OK, "removed %s", dir)
}
