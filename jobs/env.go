package jobs

import (
	"context"
	"io"
	"io/fs"

	"github.com/rs/zerolog"
)

// Env is what an op sees of the host it runs on. The controller provides
// one for local jobs and the agent one for remote jobs.
type Env interface {
	// Host says where the job runs.
	Host() Host
	// Node is the name of the node being deployed.
	Node() string
	// Params are the node's resolved params from the deploy file.
	Params() map[string]string
	// Home is the home directory on this host.
	Home() string
	// Bundle is the absolute path of the bundle: on the node for remote
	// jobs, the local twin (the sshfs mount point) for local jobs.
	Bundle() string
	// Dir is where relative paths resolve: the deploy file's directory for
	// local jobs, the bundle for remote ones.
	Dir() string
	// Output receives the job's output; it keeps a tail for the result and
	// streams the rest when the operator asked for it.
	Output() io.Writer
	// Exec runs a command in its own process group, killed with the group
	// when ctx ends.
	Exec(ctx context.Context, c Command) (exitCode int, err error)
	// SudoPassword is the password for sudo, or nil. Remote jobs only.
	SudoPassword() []byte
	// Node files over SFTP, for local jobs that deliver to the node.
	Remote(ctx context.Context) (RemoteFS, error)
	// Log is the job's logger.
	Log() *zerolog.Logger
}

// RemoteFS is the node's file system as a local job sees it, over SFTP.
// Paths are relative to the node's home directory unless absolute.
type RemoteFS interface {
	// MkdirAll creates dir and its parents with mode.
	MkdirAll(dir string, mode fs.FileMode) error
	// Upload copies the local file src to dst, written under a temporary
	// name and renamed into place, with mode. progress, if not nil, is
	// called with byte counts as they are written.
	Upload(ctx context.Context, src, dst string, mode fs.FileMode, progress func(int64)) error
}

// BundleReleaser is implemented by an Env whose host keeps state in the
// bundle, as the agent does with the lock record: close_bundle calls
// ReleaseBundle before it removes the bundle, so nothing writes into it while
// it goes.
type BundleReleaser interface {
	ReleaseBundle()
}
