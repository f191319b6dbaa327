package localops

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
)

// NodeStore is the node's store of bundle files, kept by the sha256 of
// their content (blobstore, through the agent). A copy asks it to place
// what it holds, then sends it the rest through the agent's channel: no
// SFTP, and no round trip a file.
type NodeStore interface {
	// Place makes dirs in the bundle, then puts each file into it from
	// the store, and says for each whether the bundle had it
	// (channel.StoreHad), the store gave it (channel.StoreLinked) or it is
	// still to send, and the space left where the bundle is (-1: unknown).
	Place(ctx context.Context, dirs []channel.StoreDir, files []channel.StoreFile) (placed []int8, free int64, err error)
	// Send sends a chunk of a file, at most channel.MaxStoreChunk bytes,
	// without waiting; the node checks the whole file against its hash,
	// puts it in place and keeps it.
	Send(f channel.StoreFile, off int64, data []byte) error
	// Sent waits until the node has answered every chunk sent, and has
	// kept the store to its limit: the first error it reported.
	Sent(ctx context.Context) error
	// Progress shows how far the sending got (jobs.RemoteFS's).
	Progress(what string, total int64) jobs.Progress
}

// FencedByStore is implemented by actions that, when the run reaches the
// node's store, touch the bundle only through it: each of its requests
// is fenced on the node, so the run's fence before the job would only
// cost a round trip.
type FencedByStore interface{ fencedByStore() }

func (copyAction) fencedByStore() {}

// StoreReacher is implemented by an Env whose run reaches the node's
// store; Store returns nil, with no error, when the run does not use one
// (store_limit = 0).
type StoreReacher interface {
	Store(ctx context.Context) (NodeStore, error)
}

// StorePeeker is implemented by a PreviewEnv that can ask the node's
// store which files it holds, changing nothing: held by name and size,
// for a preview (a place checks the content). ok is false where copies
// would not go through the store (store_limit = 0, or no agent to ask
// without uploading one).
type StorePeeker interface {
	PeekStore(ctx context.Context, files []channel.StoreFile) (held []bool, ok bool, err error)
}

// storeFiles hashes the files to copy, as many at once as there are
// CPUs, or takes the hashes a Prefetch or an earlier copy of the run made.
func storeFiles(ctx context.Context, files []transfer) ([]channel.StoreFile, error) {
	out := make([]channel.StoreFile, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2 * cap(hashing)) // a stat waiting while the CPUs hash
	for i, f := range files {
		g.Go(func() error {
			if gctx.Err() != nil {
				return context.Cause(gctx)
			}
			sum, id, err := sha256Of(f.src)
			if err != nil {
				return err
			}
			out[i] = channel.StoreFile{SHA256: sum, Size: id.size, Path: f.dst, Mode: uint32(f.mode.Perm()), MTime: time.Unix(0, id.mtime)}
			return nil
		})
	}
	return out, g.Wait()
}

// storeCopy copies files through the node's store: it places what the
// store holds and sends the rest, in chunks, through the agent's channel.
func storeCopy(ctx context.Context, env jobs.Env, ns NodeStore, dirs, files []transfer) jobs.Result {
	sums, err := storeFiles(ctx, files)
	if err != nil {
		return jobs.Resultf(jobs.Failed, "%v", err)
	}
	wantDirs := make([]channel.StoreDir, len(dirs))
	for i, d := range dirs {
		wantDirs[i] = channel.StoreDir{Path: d.dst, Mode: uint32(d.mode.Perm())}
	}
	var send []int
	var linked, had, total int64
	free := int64(-1)
	for len(wantDirs) > channel.MaxStoreFiles { // made before any file
		if _, _, err := ns.Place(ctx, wantDirs[:channel.MaxStoreFiles], nil); err != nil {
			return storeFailed(err)
		}
		wantDirs = wantDirs[channel.MaxStoreFiles:]
	}
	for lo := 0; lo == 0 || lo < len(files); lo += channel.MaxStoreFiles {
		hi := min(lo+channel.MaxStoreFiles, len(files))
		placed, n, err := ns.Place(ctx, wantDirs, sums[lo:hi])
		if err == nil && len(placed) != hi-lo {
			err = fmt.Errorf("the node's store answered for %d file(s), not %d", len(placed), hi-lo)
		}
		if err != nil {
			return storeFailed(err)
		}
		wantDirs, free = nil, n // the first request made the directories
		for i, p := range placed {
			switch p {
			case channel.StoreHad:
				had++
			case channel.StoreLinked:
				linked++
			default:
				send = append(send, lo+i)
				total += files[lo+i].size
			}
		}
	}
	if len(send) == 0 {
		return copied(len(files), 0, 0, linked, had)
	}
	if res := checkSpace(env, total, func() (int64, bool) { return free, free >= 0 }); res != nil {
		return *res
	}
	bar := ns.Progress("copy_product", total)
	defer bar.Done()
	var sent int64
	for _, i := range send {
		if err := sendFile(ctx, ns, files[i].src, sums[i], func(n int64) { sent += n; bar.Add(n) }); err != nil {
			ns.Sent(ctx) // the node's answers to what went, read before the job ends
			return storeFailed(err)
		}
	}
	if err := ns.Sent(ctx); err != nil {
		return storeFailed(err)
	}
	return copied(len(files), int64(len(send)), sent, linked, had)
}

// sendFile sends the content of src, which was hashed as f, in chunks.
func sendFile(ctx context.Context, ns NodeStore, src string, f channel.StoreFile, progress func(int64)) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	buf := make([]byte, min(f.Size, channel.MaxStoreChunk))
	for off := int64(0); off == 0 || off < f.Size; {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		n, err := io.ReadFull(in, buf[:min(int64(len(buf)), f.Size-off)])
		if err != nil {
			return fmt.Errorf("%s changed while it was copied: %w", src, err)
		}
		if err := ns.Send(f, off, buf[:n]); err != nil {
			return err
		}
		off += int64(n)
		progress(int64(n))
		if f.Size == 0 {
			break
		}
	}
	return nil
}
