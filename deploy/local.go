package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/rs/zerolog"

	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/localops"
)

// ReleaseLocal unmounts and removes a node's local bundle after its lock
// was removed with conc unlock, so that the next deploy's local
// open_bundle is not BLOCKED by a run that was given up. A local bundle
// that holds files is left alone; what was done or left is returned, for
// the operator.
func ReleaseLocal(ctx context.Context, f *config.File, n *config.Node) (string, error) {
	opts := &Options{File: f, Log: zerolog.Nop()}
	r := &nodeRun{opts: opts, node: n, log: zerolog.Nop()}
	dir, err := config.LocalPath(n.Get(config.KeyLocal), f.Dir)
	if err != nil || dir == "" {
		return "", err
	}
	r.localBundle = dir
	var done string
	// The mount table first: with its bundle gone on the node, a mount
	// point no longer answers a stat.
	if mounted, _ := jobs.IsMountPoint(dir); mounted {
		if res := localops.Unmount(ctx, r.env(io.Discard, zerolog.Nop()), dir); res.Status != jobs.OK {
			return "", fmt.Errorf("unmount %s: %s", dir, res.Message)
		}
		done = "unmounted and "
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err := os.Remove(dir); err != nil {
		return done + "kept " + dir, fmt.Errorf("remove the local bundle %s: %w (it holds files; look, then remove it)", dir, err)
	}
	return done + "removed the local bundle " + dir, nil
}
