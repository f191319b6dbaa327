package jobs

import (
	"context"
	"errors"
	"io/fs"
)

// Previewer is implemented by actions that can say what they would do,
// changing nothing anywhere: conc check and --dry-run ask each job of
// the plan. An action that is not one is shown by its arguments.
type Previewer interface {
	Preview(ctx context.Context, env PreviewEnv) Preview
}

// PreviewEnv is what a preview may look at: the deploy file's directory
// and the node's params here, and the node's files, read only.
type PreviewEnv interface {
	Host() Host
	Node() string
	Params() map[string]string
	// Dir is the deploy file's directory, where local paths resolve.
	Dir() string
	// ReadRemote reads at most max bytes of a regular file on the node,
	// relative to the home directory or absolute, with its mode. An error
	// wrapping fs.ErrNotExist means there is no file; ErrTooLarge, a
	// larger one; ErrNotRegular, a link or other file, not followed.
	ReadRemote(ctx context.Context, path string, max int64) ([]byte, fs.FileMode, error)
}

// Errors of a PreviewEnv's reads.
var (
	// ErrTooLarge is wrapped by a read of a file past its bound.
	ErrTooLarge = errors.New("file larger than a preview reads")
	// ErrNotRegular is wrapped by a read of a symlink, directory or other
	// file that is not a regular one, which a write would replace.
	ErrNotRegular = errors.New("not a regular file")
)

// Preview is what a job would do.
type Preview struct {
	What   string // one line: what would change, or what would run
	Bytes  int64  // bytes it would copy to the node
	Change string // Changed or Unchanged when the op can tell; "" when not
	Diff   string // a unified diff of the change, for text
	// Makes are paths on the node (relative to the home directory, or
	// absolute) that the job would create; Needs, paths that must exist
	// when it starts, made by an earlier job or there already.
	Makes, Needs []string
	// Commands are programs the job would run on its host, which must be
	// on its PATH there.
	Commands []string
	// Err is a check that failed: the run would fail at this job.
	Err error
}
