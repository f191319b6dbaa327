package jobs

import (
	"context"
	"errors"
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

// RemoteFS is the node's file system as the controller sees it, over SFTP.
// MkdirAll and Upload take paths inside the bundle; WriteFile takes a path
// relative to the node's home directory, or absolute.
type RemoteFS interface {
	// MkdirAll creates dir in the bundle and its parents with mode.
	MkdirAll(dir string, mode fs.FileMode) error
	// Upload copies the local file src to dst, written under a temporary
	// name and renamed into place, with mode and src's modification time.
	// progress, if not nil, is called with byte counts as they are
	// written. A file at dst with src's size, mode and modification time
	// is left as it is: changed is false.
	Upload(ctx context.Context, src, dst string, mode fs.FileMode, progress func(int64)) (changed bool, err error)
	// WriteFile writes data to path atomically (a temporary file renamed
	// over it), with mode, creating missing parent directories. When path
	// already holds data with mode it writes nothing and says so: changed
	// is false.
	WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode) (changed bool, err error)
	// Progress starts a progress display for total bytes: a bar when the
	// operator watches a terminal, nothing otherwise.
	Progress(what string, total int64) Progress
	// Free is the space an unprivileged user may still write where the
	// bundle is, when the node can say (false otherwise).
	Free() (int64, bool)
}

// ErrNoSpace is wrapped by errors of writes that found the node's disk
// full: "no space left on the node".
var ErrNoSpace = errors.New("no space left on the node")

// Progress shows how far a transfer got.
type Progress interface {
	Add(n int64)
	Done()
}

// InputReceiver is implemented by actions that take input from the
// controller besides their arguments: the node tests' definitions. The
// agent gives it the run message's input before running the action.
type InputReceiver interface {
	WithInput(data []byte) (Action, error)
}

// EventEmitter is implemented by an Env that can stream an op's structured
// progress to the controller as it happens (node test results).
type EventEmitter interface {
	Emit(data []byte)
}

// MountTracker is implemented by an Env that unmounts, at the end of a run
// that did not stop on purpose, what the run's jobs mounted.
type MountTracker interface {
	Mounted(dir string)
	Unmounted(dir string)
}

// BundleRemover is implemented by an Env that holds the bundle by
// identity, as the agent does on the node: close_bundle asks it to remove
// the bundle, which it does only if the bundle at the path is still the
// one it holds, and it stops writing the lock record first. An error
// wrapping ErrBundleLost means the bundle was not its own any more.
type BundleRemover interface {
	RemoveBundle() error
}

// ErrBundleLost is wrapped by errors that say a run's bundle was removed or
// replaced under it: the run no longer holds the node, and ends ERROR.
var ErrBundleLost = errors.New("this run's bundle was removed or replaced")
