// Package testrun is conc test: it compiles a node's [test NAME] sections
// and runs them on each node through an agent that takes no lock, so
// tests run beside a deploy as well as after one. A remote nodetest step
// of a plan uses the same compiled tests (deploy calls Compile).
package testrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/nodelock"
	"github.com/concdeploy/conc/nodetest"
	"github.com/concdeploy/conc/runreport"
	"github.com/concdeploy/conc/sshconn"
)

// Compile compiles the [test NAME] sections that apply to a node.
// Its errors name the file and line at fault.
func Compile(f *config.File, n *config.Node) ([]nodetest.Spec, error) {
	defs, err := f.Tests(n)
	if err != nil {
		return nil, err
	}
	specs := make([]nodetest.Spec, 0, len(defs))
	for _, d := range defs {
		nd := nodetest.Def{Name: d.Name, Pos: d.Pos.String(), Keys: d.Keys, Vals: map[string]string{}, KeyPos: map[string]string{}}
		for k, p := range d.Vals {
			nd.Vals[k] = p.Value
			nd.KeyPos[k] = p.Pos.String()
		}
		s, err := nodetest.Compile(nd)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// TestOptions configure conc test.
type TestOptions struct {
	File     *config.File
	Agents   agentclient.Agents
	Dial     sshconn.DialOptions
	Filter   string // --run
	Sudo     []byte // set after NewTestRun, when it NeedsSudo
	Log      zerolog.Logger
	Parallel int
	// Header is called once per node before its tests, with the lock the
	// node is under, if any. Event is called as each test starts and ends.
	// Both may be called from several goroutines.
	Header func(node string, st *nodelock.NodeStatus, err error)
	Event  func(node string, e nodetest.Event)
	// Done is called with a node's summary, or the error that kept its
	// tests from running.
	Done func(node string, sum nodetest.Summary, err error)
}

// TestRun is conc test made ready: each node's tests compiled, once.
type TestRun struct {
	o     *TestOptions
	nodes []*config.Node
	specs map[string][]nodetest.Spec // by node
	sudo  bool                       // a selected test runs with sudo
}

// NewTestRun compiles each node's tests and the --run filter. Its errors
// are the operator's, with file and line: nothing has been touched yet.
func NewTestRun(o *TestOptions, nodes []*config.Node) (*TestRun, error) {
	var re *regexp.Regexp
	if o.Filter != "" {
		var err error
		if re, err = regexp.Compile(o.Filter); err != nil {
			return nil, fmt.Errorf("--run: %w", err)
		}
	}
	t := &TestRun{o: o, nodes: nodes, specs: map[string][]nodetest.Spec{}}
	for _, n := range nodes {
		specs, err := Compile(o.File, n)
		if err != nil {
			return nil, err
		}
		t.specs[n.Name] = specs
		for _, s := range specs {
			t.sudo = t.sudo || s.Sudo && (re == nil || re.MatchString(s.Name))
		}
	}
	return t, nil
}

// NeedsSudo reports whether a selected test runs with sudo, so that the
// password is asked for only then.
func (t *TestRun) NeedsSudo() bool { return t.sudo }

// Run runs the node tests on each node through its agent, without taking
// the deploy lock: tests only read. It returns 0 when every test passed or
// was skipped, 1 otherwise.
func (t *TestRun) Run(ctx context.Context) int {
	o := t.o
	limit := o.Parallel
	if limit <= 0 {
		limit = 8
	}
	var g errgroup.Group
	g.SetLimit(limit)
	var mu sync.Mutex
	code := jobs.ExitOK
	for _, n := range t.nodes {
		g.Go(func() error {
			sum, err := testNode(ctx, o, n, t.specs[n.Name])
			o.Done(n.Name, sum, err)
			mu.Lock()
			if err != nil || sum.Failed > 0 {
				code = jobs.ExitFailed
			}
			mu.Unlock()
			return nil
		})
	}
	g.Wait()
	return code
}

func testNode(ctx context.Context, o *TestOptions, n *config.Node, specs []nodetest.Spec) (nodetest.Summary, error) {
	input, err := nodetest.EncodeSpecs(specs)
	if err != nil {
		return nodetest.Summary{}, err
	}
	c, err := sshconn.Connect(ctx, o.File, n, o.Dial)
	if err != nil {
		o.Header(n.Name, nil, err)
		return nodetest.Summary{}, err
	}
	defer c.Close()
	log := o.Log.With().Str(runreport.FieldNode, n.Name).Logger()
	params := n.Values()
	params[config.KeyAdmin] = c.Target.User
	hello := &channel.Hello{Version: channel.Version, Node: n.Name, Params: params, Bundle: n.Get(config.KeyBundle),
		LockMode: channel.LockNone, Sudo: o.Sudo}
	var sum nodetest.Summary
	onOutput := func(_ uint32, stream int, data []byte) {
		if stream != channel.Event {
			return
		}
		var e nodetest.Event
		if json.Unmarshal(data, &e) != nil {
			return
		}
		// Results arrive before the job's result, on the same reader,
		// so sum is complete when run returns. Subtests are reported but
		// not counted, as in the nodetest job's own summary.
		switch {
		case e.Sub:
		case e.Action == nodetest.ActionPass:
			sum.Passed++
		case e.Action == nodetest.ActionFail:
			sum.Failed++
			sum.FailedNames = append(sum.FailedNames, e.Test)
		case e.Action == nodetest.ActionSkip:
			sum.Skipped++
		}
		o.Event(n.Name, e)

	}
	r, err := agentclient.Open(ctx, c, o.Agents, hello, func(line string) { log.Debug().Msg("agent: " + line) }, onOutput)
	if err != nil {
		o.Header(n.Name, nil, err)
		return sum, err
	}
	defer r.Close()
	// The agent looked at the bundle without taking it: the tests say
	// whether the node was locked while they ran.
	st := nodelock.StatusOf(n, r.Ready())
	o.Header(n.Name, &st, nil)
	if r.Ready().Status != string(jobs.OK) {
		return sum, errors.New(r.Ready().Message)
	}
	var args []string
	if o.Filter != "" {
		args = []string{"--run", o.Filter}
	}
	res := r.Run(ctx, 0, 0, jobs.Job{Host: jobs.Remote, Op: nodetest.OpName, Args: args}, input)
	switch res.Status {
	case jobs.OK, jobs.Failed:
	default:
		return sum, fmt.Errorf("%s: %s", res.Status, res.Message)
	}
	return sum, nil
}
