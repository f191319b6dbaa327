// Package nodecache is conc cache: what each node's store of bundle files
// holds (blobstore, on the node), and emptying it. It asks the node's
// agent, in a session that takes no lock, so it never stands in the way
// of a run; a run that is linking from the store when it is emptied keeps
// what it linked, and sends the rest.
package nodecache

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/internal/bytesize"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/nodelock"
	"github.com/concdeploy/conc/sshconn"
)

// Report is what a node's store holds, or held before a prune, or why it
// could not be read.
type Report struct {
	Node    string
	Dir     string // the store on the node
	Files   int64
	Bytes   int64
	Limit   int64 // the node's store_limit
	Oldest  time.Time
	Removed int64 // files a prune removed
	Err     error
}

// ReadAll asks each node's store what it holds, or with prune empties it,
// parallel nodes at a time, in their order.
func ReadAll(ctx context.Context, f *config.File, nodes []*config.Node, agents agentclient.Agents, opts sshconn.DialOptions, parallel int, prune bool) []Report {
	out := make([]Report, len(nodes))
	nodelock.EachNode(ctx, f, nodes, opts, parallel, func(i int, c *sshconn.Conn, err error) {
		out[i] = Report{Node: nodes[i].Name, Err: err}
		out[i].Limit, _ = nodes[i].StoreLimit()
		if err == nil {
			read(ctx, c, nodes[i], agents, prune, &out[i])
		}
	})
	return out
}

// read asks n's store, through an agent that takes no lock, into rep.
func read(ctx context.Context, c *sshconn.Conn, n *config.Node, agents agentclient.Agents, prune bool, rep *Report) {
	r, err := agentclient.Open(ctx, c, agents, &channel.Hello{
		Version: channel.Version, Node: n.Name, Bundle: n.Get(config.KeyBundle), LockMode: channel.LockNone,
		Lock: &channel.Record{Holder: nodelock.Holder(), Node: n.Name},
	}, nil, nil)
	if err != nil {
		rep.Err = fmt.Errorf("start the agent on %s: %w", n.Name, err)
		return
	}
	defer r.Close()
	if r.Ready().Status != string(jobs.OK) {
		rep.Err = fmt.Errorf("the agent on %s: %s", n.Name, r.Ready().Message)
		return
	}
	do := channel.StoreShow
	if prune {
		do = channel.StorePrune
	}
	ans, err := r.Store(ctx, channel.Store{Do: do})
	if err != nil {
		rep.Err = err
		return
	}
	rep.Dir, rep.Files, rep.Bytes, rep.Oldest, rep.Removed = ans.Dir, ans.Blobs, ans.Bytes, ans.Oldest, ans.Evicted
}

// CacheJSON is a node's store as conc cache --json prints it, one object
// per line; docs/json.md documents the fields.
type CacheJSON struct {
	Event   string     `json:"event"` // "cache"
	Node    string     `json:"node"`
	Dir     string     `json:"dir,omitempty"`
	Files   int64      `json:"files"`
	Bytes   int64      `json:"bytes"`
	Limit   int64      `json:"limit"`
	Oldest  *time.Time `json:"oldest,omitempty"` // the least recent use
	Removed int64      `json:"removed,omitempty"`
	Error   string     `json:"error,omitempty"`
}

// Print prints reports as text or one JSON object per node, and returns
// conc cache's exit code: 0, or 1 when a node could not be read.
func Print(w io.Writer, reports []Report, asJSON bool, now time.Time) int {
	code := jobs.ExitOK
	for _, r := range reports {
		if r.Err != nil {
			code = jobs.ExitFailed
		}
		if asJSON {
			j := CacheJSON{Event: "cache", Node: r.Node, Dir: r.Dir, Files: r.Files, Bytes: r.Bytes, Limit: r.Limit, Removed: r.Removed}
			if !r.Oldest.IsZero() {
				j.Oldest = &r.Oldest
			}
			if r.Err != nil {
				j.Error = r.Err.Error()
			}
			b, _ := json.Marshal(j)
			fmt.Fprintf(w, "%s\n", b)
			continue
		}
		fmt.Fprintln(w, r.describe(now))
	}
	return code
}

func (r Report) describe(now time.Time) string {
	limit := "off (store_limit = 0)"
	if r.Limit > 0 {
		limit = bytesize.Format(r.Limit)
	}
	switch {
	case r.Err != nil:
		return fmt.Sprintf("%s: unknown: %v", r.Node, r.Err)
	case r.Removed > 0:
		return fmt.Sprintf("%s: removed %d file(s) from %s; it is empty", r.Node, r.Removed, r.Dir)
	case r.Files == 0:
		return fmt.Sprintf("%s: %s is empty (limit %s)", r.Node, r.Dir, limit)
	}
	return fmt.Sprintf("%s: %s holds %d file(s), %s of %s; least recently used %s ago",
		r.Node, r.Dir, r.Files, bytesize.Format(r.Bytes), limit, now.Sub(r.Oldest).Round(time.Second))
}
