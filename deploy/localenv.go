package deploy

import (
	"context"
	"errors"
	"io"
	"path"

	"github.com/rs/zerolog"

	"github.com/concdeploy/conc/bundlefs"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/localops"
)

// localEnv is a local job's view of the workstation, and of the node's
// bundle over SFTP.
type localEnv struct {
	n     *nodeRun
	out   io.Writer
	log   *zerolog.Logger
	procs *jobs.Procs
}

var _ jobs.Env = (*localEnv)(nil)

func (e *localEnv) Host() jobs.Host           { return jobs.Local }
func (e *localEnv) Node() string              { return e.n.node.Name }
func (e *localEnv) Params() map[string]string { return e.n.params }
func (e *localEnv) Home() string              { return e.n.localHome }
func (e *localEnv) Bundle() string            { return e.n.localBundle }
func (e *localEnv) Dir() string               { return e.n.opts.File.Dir }
func (e *localEnv) Output() io.Writer         { return e.out }
func (e *localEnv) SudoPassword() []byte      { return nil }
func (e *localEnv) Log() *zerolog.Logger      { return e.log }

// Exec runs a local command with the node's name and local bundle in its
// environment.
func (e *localEnv) Exec(ctx context.Context, c jobs.Command) (int, error) {
	if c.Stdout == nil {
		c.Stdout = e.out
	}
	if c.Stderr == nil {
		c.Stderr = e.out
	}
	c.Env = append(c.Env, "CONC_NODE="+e.n.node.Name, "CONC_BUNDLE="+e.n.localBundle)
	return e.procs.Exec(ctx, c)
}

// Remote connects to the node if needed and returns its bundle over SFTP.
func (e *localEnv) Remote(ctx context.Context) (jobs.RemoteFS, error) {
	c, err := e.n.connect(ctx)
	if err != nil {
		return nil, err
	}
	s, err := c.SFTP()
	if err != nil {
		return nil, err
	}
	fs, err := bundlefs.Open(s, e.n.node.Get(config.KeyBundle), e.n.opts.Terminal)
	if err != nil {
		return nil, err
	}
	return fs, nil
}

var _ localops.SSHForwarder = (*localEnv)(nil)

// ForwardSSH implements localops.SSHForwarder: sshfs reaches a node behind
// jump hosts through the run's own connection.
func (e *localEnv) ForwardSSH(ctx context.Context) (string, string, error) {
	if len(e.n.target.Jumps) == 0 {
		return "", "", nil
	}
	c, err := e.n.connect(ctx)
	if err != nil {
		return "", "", err
	}
	return c.ForwardSSH()
}

var _ jobs.MountTracker = (*localEnv)(nil)

// Mounted implements jobs.MountTracker.
func (e *localEnv) Mounted(dir string) {
	e.n.mountMu.Lock()
	defer e.n.mountMu.Unlock()
	if e.n.mounts == nil {
		e.n.mounts = map[string]bool{}
	}
	e.n.mounts[dir] = true
}

// Unmounted implements jobs.MountTracker.
func (e *localEnv) Unmounted(dir string) {
	e.n.mountMu.Lock()
	defer e.n.mountMu.Unlock()
	delete(e.n.mounts, dir)
}

// nodeSideEnv is the Env of a remote job that the controller runs itself
// (jobs.Info.InController): the job is about the node, its files reached over
// SFTP, while its inputs are the application's files next to the deploy
// file.
type nodeSideEnv struct{ *localEnv }

func (e *nodeSideEnv) Host() jobs.Host { return jobs.Remote }

// Home is the node's home directory, as the agent reported it.
func (e *nodeSideEnv) Home() string {
	if e.n.agent != nil {
		return e.n.agent.Ready().Home
	}
	return ""
}

// Bundle is the bundle's path on the node.
func (e *nodeSideEnv) Bundle() string {
	return path.Join(e.Home(), e.n.node.Get(config.KeyBundle))
}

// Exec refuses: a command in the controller would not run on the node.
func (e *nodeSideEnv) Exec(context.Context, jobs.Command) (int, error) {
	return -1, errors.New("an op that runs in the controller cannot run commands on the node")
}
