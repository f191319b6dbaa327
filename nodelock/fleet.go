package nodelock

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/sshconn"
)

// Report is a node's status as conc status shows it, or why it could not
// be read.
type Report struct {
	Node   string
	Status NodeStatus
	Err    error
}

// ReadAll reads the status of nodes, parallel at a time, in their order:
// an estate's status costs the slowest node's round trips, not their sum.
func ReadAll(ctx context.Context, f *config.File, nodes []*config.Node, agents agentclient.Agents, opts sshconn.DialOptions, parallel int) []Report {
	out := make([]Report, len(nodes))
	EachNode(ctx, f, nodes, opts, parallel, func(i int, c *sshconn.Conn, err error) {
		out[i] = Report{Node: nodes[i].Name, Err: err}
		if err == nil {
			out[i].Status, out[i].Err = ReadStatus(ctx, c, agents, nodes[i])
		}
	})
	return out
}

// EachNode connects to each node, parallel at a time, and calls do with
// the node's index and its connection, or why there is none; the
// connection is closed when do returns. It is how the commands that read
// every node (conc status, conc cache) fan out.
func EachNode(ctx context.Context, f *config.File, nodes []*config.Node, opts sshconn.DialOptions, parallel int, do func(i int, c *sshconn.Conn, err error)) {
	var g errgroup.Group
	g.SetLimit(max(parallel, 1))
	for i, n := range nodes {
		g.Go(func() error {
			c, err := sshconn.Connect(ctx, f, n, opts)
			if err == nil {
				defer c.Close()
			}
			do(i, c, err)
			return nil
		})
	}
	g.Wait()
}

// StatusJSON is a node's status as conc status --json prints it, one
// object per line; docs/json.md documents the fields.
type StatusJSON struct {
	Event      string          `json:"event"` // "status"
	Node       string          `json:"node"`
	State      string          `json:"state"` // free, locked or unknown
	Alive      bool            `json:"alive"` // a live agent holds the lock
	Holder     string          `json:"holder,omitempty"`
	PID        int             `json:"pid,omitempty"`
	DeployID   string          `json:"deploy_id,omitempty"`
	Plan       string          `json:"plan,omitempty"`
	Started    *time.Time      `json:"started,omitempty"`
	Step       int             `json:"step,omitempty"` // the last step that ended
	Steps      int             `json:"steps,omitempty"`
	Op         string          `json:"op,omitempty"`
	StepStatus string          `json:"step_status,omitempty"`
	Running    *bundle.Running `json:"running,omitempty"` // the job a live holder has run for more than a second
	Message    string          `json:"message,omitempty"` // why unknown, or the last step's message
}

// JSON is the report as conc status --json prints it.
func (r Report) JSON() StatusJSON {
	j := StatusJSON{Event: "status", Node: r.Node, State: "free"}
	switch {
	case r.Err != nil:
		j.State, j.Message = "unknown", r.Err.Error()
		return j
	case !r.Status.Held:
		return j
	}
	j.State, j.Alive, j.Message = "locked", r.Status.Live, r.Status.Note
	if r.Status.Live {
		j.Running = r.Status.Running
	}
	if l := r.Status.Lock; l != nil && l.DeployID != "" {
		j.Holder, j.PID, j.DeployID, j.Plan, j.Steps = l.Holder, l.PID, l.DeployID, l.Plan, l.Steps
		started := l.Started
		j.Started = &started
		if e, ok := l.Last(); ok {
			j.Step, j.Op, j.StepStatus, j.Message = e.Step, e.Op, e.Status, e.Message
		}
	}
	return j
}

// Print prints reports as conc status does, as text or one JSON object per
// node, and returns conc status's exit code: 0 all free, 3 any locked, 1 a
// node could not be read.
func Print(w io.Writer, reports []Report, asJSON bool) int {
	code := jobs.ExitOK
	for _, r := range reports {
		switch {
		case asJSON:
			b, _ := json.Marshal(r.JSON())
			fmt.Fprintf(w, "%s\n", b)
		case r.Err != nil:
			fmt.Fprintf(w, "%s: unknown: %v\n", r.Node, r.Err)
		default:
			fmt.Fprintln(w, r.Status.Describe())
		}
		switch {
		case r.Err != nil:
			code = jobs.WorseExit(code, jobs.ExitFailed)
		case r.Status.Locked():
			code = jobs.WorseExit(code, jobs.ExitBlocked)
		}
	}
	return code
}
