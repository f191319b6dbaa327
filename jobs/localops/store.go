package localops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/concdeploy/conc/channel"
)

// NodeStore is the node's store of bundle files, kept by the sha256 of
// their content (blobstore, through the agent). A copy asks it to place
// what it holds before sending the rest, then hands it what it sent.
type NodeStore interface {
	// Place makes dirs in the bundle, then puts each file into it from
	// the store, and says for each whether the bundle had it
	// (channel.StoreHad), the store gave it (channel.StoreLinked) or it is
	// still to send.
	Place(ctx context.Context, dirs []channel.StoreDir, files []channel.StoreFile) ([]int8, error)
	// Keep adds files just sent to the store. It need not wait: the node
	// does it before the next job.
	Keep(files []channel.StoreFile) error
}

// StoreReacher is implemented by an Env whose run reaches the node's
// store; Store returns nil, with no error, when the run does not use one
// (store_limit = 0).
type StoreReacher interface {
	Store(ctx context.Context) (NodeStore, error)
}

// storeFiles hashes the files to copy, as many at once as there are CPUs.
func storeFiles(ctx context.Context, files []transfer) ([]channel.StoreFile, error) {
	out := make([]channel.StoreFile, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, f := range files {
		g.Go(func() error {
			if gctx.Err() != nil {
				return context.Cause(gctx)
			}
			in, err := os.Open(f.src)
			if err != nil {
				return err
			}
			defer in.Close()
			fi, err := in.Stat()
			if err != nil {
				return err
			}
			h := sha256.New()
			if _, err := io.Copy(h, in); err != nil {
				return err
			}
			out[i] = channel.StoreFile{SHA256: hex.EncodeToString(h.Sum(nil)), Size: fi.Size(), Path: f.dst, Mode: uint32(f.mode.Perm()), MTime: fi.ModTime()}
			return nil
		})
	}
	return out, g.Wait()
}
