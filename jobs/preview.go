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

// Errors of a PreviewEnv's reads: a file past its bound, and a symlink,
// directory or other file that a write would replace, not follow.
var (
	ErrTooLarge   = errors.New("file larger than a preview reads")
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
	Commands     []string // programs the job runs, which must be on its host's PATH
	// Err is a check that failed: the run would fail at this job.
	Err error
}
