package agentclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
)

// Store sends a request to the node's store of bundle files and waits
// for the agent's answer. A Ctrl-C does not cut the wait short: the agent
// answers once it has hashed what it places, and the job then ends as
// canceled; only storeTimeout closes the session.
func (r *Client) Store(ctx context.Context, q channel.Store) (*channel.StoreAnswer, error) {
	id, err := r.sendStore(q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { r.start.sess.Close() })
	defer stop()
	return r.awaitStore(id)
}

// storeTimeout bounds a store request: the agent hashes what it places
// or keeps, a few GiB at the most.
const storeTimeout = 10 * time.Minute

func (r *Client) sendStore(q channel.Store) (uint32, error) {
	if r.dead != nil {
		return 0, r.dead
	}
	r.nextID++
	q.ID = r.nextID
	if err := r.start.conn.Send(&channel.Message{Type: channel.TStore, Store: &q}); err != nil {
		if errors.Is(err, channel.ErrLimit) || errors.Is(err, channel.ErrFrameTooLarge) {
			return 0, err // this side's mistake: the session is still good
		}
		return 0, r.storeLost(err)
	}
	return q.ID, nil
}

// awaitStore reads until the answer to store request id.
func (r *Client) awaitStore(id uint32) (*channel.StoreAnswer, error) {
	for {
		m, err := r.start.conn.Recv()
		if err != nil {
			r.dead = err
			return nil, errors.New(r.lost(err).Message)
		}
		switch {
		case m.Type == channel.TResult && m.Result.ID > id:
			return nil, fmt.Errorf("%w: the answer to %d before the one to %d", channel.ErrUnexpected, m.Result.ID, id)
		case m.Type == channel.TResult && m.Result.ID == id:
			res := m.Result
			r.bundleLost = r.bundleLost || res.Lost
			if res.Status != string(jobs.OK) || res.Store == nil {
				if res.Lost {
					return nil, fmt.Errorf("%w: %s", jobs.ErrBundleLost, res.Message)
				}
				return nil, fmt.Errorf("the node's store: %s", res.Message)
			}
			return res.Store, nil
		case m.Type == channel.TBye:
			return nil, r.byeError(m.Bye)
		}
	}
}

// storeLost is the error of a store request that could not be sent: the
// session is over. An agent that was stopped said why in a bye of its
// own, which may come after answers not yet read.
func (r *Client) storeLost(err error) error {
	r.dead = err
	t := time.AfterFunc(byeTimeout, func() { r.start.sess.Close() })
	defer t.Stop()
	for {
		m, rerr := r.start.conn.Recv()
		if rerr != nil {
			return errors.New(r.lost(err).Message)
		}
		if m.Type == channel.TBye {
			return r.byeError(m.Bye)
		}
	}
}

// byeError is the error of an agent's own bye: one that wraps
// jobs.ErrBundleLost when the run lost its bundle.
func (r *Client) byeError(b *channel.Bye) error {
	res := r.agentBye(b)
	if r.bundleLost {
		return fmt.Errorf("%w: %s", jobs.ErrBundleLost, res.Message)
	}
	return errors.New(res.Message)
}

// NodeStore is the node's store of bundle files through this agent, for
// a copy (localops.NodeStore); after a copy it keeps to limit bytes, and
// progress draws the copy's progress.
func (r *Client) NodeStore(limit int64, progress func(what string, total int64) jobs.Progress) *NodeStore {
	return &NodeStore{c: r, limit: limit, progress: progress}
}

// NodeStore is Client's store requests as a copy makes them.
type NodeStore struct {
	c        *Client
	limit    int64
	progress func(string, int64) jobs.Progress
	pending  []uint32 // writes sent and not yet answered
	failed   error    // the first error an answer reported
}

// Progress shows how far a copy got.
func (s *NodeStore) Progress(what string, total int64) jobs.Progress { return s.progress(what, total) }

// Place asks the store to make dirs and place files in the bundle, and
// says what it did with each and how much space is left (-1: unknown).
func (s *NodeStore) Place(ctx context.Context, dirs []channel.StoreDir, files []channel.StoreFile) ([]int8, int64, error) {
	ans, err := s.c.Store(ctx, channel.Store{Do: channel.StorePlace, Dirs: dirs, Files: files})
	if err != nil {
		return nil, 0, err
	}
	free := int64(-1)
	if ans.Free != nil {
		free = *ans.Free
	}
	return ans.Placed, free, nil
}

// maxInFlight bounds the chunks sent and not yet answered: the agent's
// answers must never fill the channel's window while the controller only
// writes (a tree of many small files), and many enough stay in flight to
// fill a slow link.
const maxInFlight = 256

// Send sends a chunk of a file the store lacks, without waiting for its
// answer, unless maxInFlight are unanswered: then it takes the oldest
// answer first. Sent takes the rest. A send the agent does not take in
// storeTimeout closes the session.
func (s *NodeStore) Send(f channel.StoreFile, off int64, data []byte) error {
	if len(s.pending) >= maxInFlight {
		if err := s.await(s.pending[:1]); err != nil {
			return err
		}
		s.pending = s.pending[1:]
	}
	t := time.AfterFunc(storeTimeout, func() { s.c.start.sess.Close() })
	defer t.Stop()
	id, err := s.c.sendStore(channel.Store{Do: channel.StoreWrite, Files: []channel.StoreFile{f}, Offset: off, Data: data})
	if err == nil {
		s.pending = append(s.pending, id)
	}
	return err
}

// Sent asks the store to keep to its limit, and waits until the node has
// answered every chunk sent: it returns the first error it reports.
func (s *NodeStore) Sent(context.Context) error {
	id, err := s.c.sendStore(channel.Store{Do: channel.StoreKeep, Limit: s.limit})
	if err != nil {
		return err
	}
	ids := append(s.pending, id)
	s.pending = nil
	return s.await(ids)
}

// await takes the answers to ids, in order, within storeTimeout, and
// returns the first error one reports, or the failure an earlier Send
// took from an answer.
func (s *NodeStore) await(ids []uint32) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { s.c.start.sess.Close() })
	defer stop()
	for _, id := range ids {
		if _, err := s.c.awaitStore(id); err != nil && s.failed == nil {
			s.failed = err
		}
		if s.c.dead != nil {
			break
		}
	}
	return s.failed
}
