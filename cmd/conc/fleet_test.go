package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bytes"
	"context"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/deploy"
	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/runreport"
	"github.com/rs/zerolog"
)

// fleetPlan fails on a node whose home holds fail-here, and leaves
// deployed in the home of a node it went through.
const fleetPlan = `[plan deploy]
step = remote open_bundle
step = local run true
step = remote run test ! -e ../fail-here
step = remote run touch ../deployed
step = remote close_bundle
`

// fleet is a deploy file for n real sshd nodes, node1..nodeN, in a group
// web, with the failing ones marked.
type fleet struct {
	*project
	nodes []*testnode.Node
}

func newFleet(t *testing.T, n int, failing ...int) *fleet {
	t.Helper()
	f := &fleet{}
	for range n {
		f.nodes = append(f.nodes, testnode.OpenSSH(t))
	}
	f.project = newProject(t, f.nodes[0], "")
	var b strings.Builder
	b.WriteString("[defaults]\nbundle = .conc-bundle\n\n")
	var names []string
	for i, node := range f.nodes {
		name := fmt.Sprintf("node%d", i+1)
		names = append(names, name)
		fmt.Fprintf(&b, "[node %s]\nadmin = %s\nidentity = %s\nknown_hosts = %s\nsshd.ip = %s\nsshd.port = %d\nlocal_bundle = %s\n\n",
			name, node.User, node.Identity, node.KnownHosts, node.Host, node.Port, filepath.Join(f.dir, "local-"+name))
	}
	fmt.Fprintf(&b, "[group web]\nnodes = %s\n\n[group edge]\nnodes = node1 node2\n\n%s", strings.Join(names, " "), fleetPlan)
	if err := os.WriteFile(f.file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, i := range failing {
		os.WriteFile(filepath.Join(f.nodes[i-1].Home, "fail-here"), nil, 0o644)
	}
	return f
}

// touched reports whether conc ever reached node i (1-based): the agent
// it boots is cached in the home before any bundle can exist.
func (f *fleet) touched(i int) bool {
	home := f.nodes[i-1].Home
	return exists(filepath.Join(home, ".cache", "conc")) || exists(filepath.Join(home, ".conc-bundle")) || exists(filepath.Join(home, "deployed"))
}

func (f *fleet) deployed(i int) bool { return exists(filepath.Join(f.nodes[i-1].Home, "deployed")) }

// recap returns the recap, checking it is the last thing printed: it ends
// with the counts, and nothing follows them.
func recap(t *testing.T, r result) string {
	t.Helper()
	i := strings.LastIndex(r.stdout, "\nRECAP\n")
	if i < 0 {
		t.Fatalf("no recap:\n%s", r)
	}
	rec := r.stdout[i:]
	lines := strings.Split(strings.TrimRight(rec, "\n"), "\n")
	if !strings.Contains(lines[len(lines)-1], " node(s): ") {
		t.Errorf("the output does not end with the recap's counts:\n%s", r.stdout)
	}
	return rec
}

// recapStatus is a node's status in the recap table.
func recapStatus(rec, node string) string {
	for _, line := range strings.Split(rec, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == node {
			if f[1] == "NOT" {
				return "NOT RUN"
			}
			return f[1]
		}
	}
	return ""
}

// TestCanaryStopsTheRollout: --batch 1 --max-fail 0 on three nodes where
// the first fails; the others are never connected to.
func TestCanaryStopsTheRollout(t *testing.T) {
	f := newFleet(t, 3, 1)
	r := f.conc("deploy", "web", "--batch", "1", "--max-fail", "0")
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	for i := 2; i <= 3; i++ {
		if f.touched(i) {
			t.Errorf("node%d was touched after the canary failed", i)
		}
	}
	rec := recap(t, r)
	for node, want := range map[string]string{"node1": "FAILED", "node2": "NOT RUN", "node3": "NOT RUN"} {
		if got := recapStatus(rec, node); got != want {
			t.Errorf("recap says %s %q, want %q:\n%s", node, got, want, rec)
		}
	}
	if !strings.Contains(rec, "node1: FAILED at step 3/5 run: exit status 1") || !strings.Contains(rec, "3 node(s): 2 NOT RUN, 1 FAILED") {
		t.Errorf("the recap does not say why node1 failed, or the counts:\n%s", rec)
	}
}

// TestMaxFailStopsAfterTheLimit: --max-fail 1, two of five nodes fail, one
// at a time: the rollout stops after the second failure.
func TestMaxFailStopsAfterTheLimit(t *testing.T) {
	f := newFleet(t, 5, 2, 3)
	r := f.conc("deploy", "web", "--max-fail", "1", "--parallel", "1")
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	rec := recap(t, r)
	want := map[string]string{"node1": "OK", "node2": "FAILED", "node3": "FAILED", "node4": "NOT RUN", "node5": "NOT RUN"}
	for node, st := range want {
		if got := recapStatus(rec, node); got != st {
			t.Errorf("recap says %s %q, want %q:\n%s", node, got, st, rec)
		}
	}
	if !f.deployed(1) || f.touched(4) || f.touched(5) {
		t.Errorf("deployed node1 %v, touched node4 %v node5 %v; want true, false, false", f.deployed(1), f.touched(4), f.touched(5))
	}
	if !strings.Contains(rec, "2 node(s) failed (node2, node3), more than --max-fail 1") ||
		!strings.Contains(rec, "deploy node2 node3 --resume\n") || !strings.Contains(rec, "deploy node4 node5\n") {
		t.Errorf("the recap does not say why the rollout stopped:\n%s", rec)
	}
	// A group's own batch and max_fail apply without flags; flags win.
	os.WriteFile(f.file, append([]byte(readFile(t, f.file)), "\n[group few]\nnodes = node4 node5\nmax_fail = 5\nbatch = 1\n"...), 0o600)
	os.WriteFile(filepath.Join(f.nodes[3].Home, "fail-here"), nil, 0o644)
	r = f.conc("deploy", "few")
	if r.code != 1 || !f.deployed(5) {
		t.Errorf("a group with max_fail = 5 stopped at its first failure: %s", r)
	}
}

func TestLimit(t *testing.T) {
	f := newFleet(t, 3)
	r := f.conc("deploy", "web", "--limit", "node*,!node2")
	if r.code != 0 || !f.deployed(1) || f.touched(2) || !f.deployed(3) {
		t.Fatalf("--limit 'node*,!node2': deployed %v %v %v: %s", f.deployed(1), f.touched(2), f.deployed(3), r)
	}
	if rec := recap(t, r); strings.Contains(rec, "node2") {
		t.Errorf("the recap names a node the limit excluded:\n%s", rec)
	}
	os.Remove(filepath.Join(f.nodes[0].Home, "deployed"))
	if r := f.conc("deploy", "web", "--limit", "edg*,!node2"); r.code != 0 || !f.deployed(1) || f.touched(2) {
		t.Errorf("--limit by a glob on group names: %s", r)
	}
	for _, bad := range []string{"nodeX*", "node[", "node1,,node2"} {
		if r := f.conc("deploy", "web", "--limit", bad); r.code != 2 || !strings.Contains(r.stderr, "--limit") {
			t.Errorf("--limit %q: %s", bad, r)
		}
	}
	if r := f.conc("status", "web", "--limit", "node3"); strings.Contains(r.stdout, "node1") || !strings.Contains(r.stdout, "node3: free") {
		t.Errorf("status --limit node3: %s", r)
	}
}

// TestDeployJSON: --json prints one event per line, one job_end per job,
// and the recap last; nothing else on stdout.
func TestDeployJSON(t *testing.T) {
	f := newFleet(t, 2, 2)
	r := f.conc("deploy", "web", "--json", "--max-fail", "1")
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	ends := map[string]int{}
	var last map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if e["event"] == "job_end" {
			ends[e["node"].(string)]++
		}
		last = e
	}
	// node1 runs all five jobs; node2 fails at its third.
	if ends["node1"] != 5 || ends["node2"] != 3 {
		t.Errorf("job_end events by node %v, want node1 5 and node2 3", ends)
	}
	if last["event"] != "recap" || last["exit"] != 1.0 || len(last["nodes"].([]any)) != 2 {
		t.Errorf("last event %v, want the recap", last)
	}
	if !strings.Contains(r.stderr, "node2: stopped at step 3/5") {
		t.Errorf("the stop message is not on stderr: %s", r)
	}
	st := f.conc("status", "web", "--json")
	var s map[string]any
	lines := strings.Split(strings.TrimSpace(st.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[1]), &s); err != nil || len(lines) != 2 || s["node"] != "node2" || s["state"] != "locked" || s["step_status"] != "FAILED" {
		t.Errorf("status --json: %v %v: %s", s, err, st)
	}
}

// TestFailureStopsRunningNodes: two nodes at once, node1 fails while
// node2 is in a job. node2 finishes that job, then stops STOPPED before
// the next one, its bundle kept, and --resume finishes it. The jobs order
// themselves, the same in every round: node1 fails only once node2 is in
// its job, and node2's job ends only once node1's failure is in node1's
// journal.
func TestFailureStopsRunningNodes(t *testing.T) {
	f := newFleet(t, 2, 1)
	in := filepath.Join(f.dir, "node2-in-step-3")
	step := fmt.Sprintf(`if [ -e ../fail-here ]; then until [ -e %s ]; do sleep 0.05; done; exit 1; fi; `+
		`touch %s; until grep -qs '"FAILED"' %s/node1/*.journal; do sleep 0.05; done`, in, in, filepath.Join(f.dir, ".conc", "state"))
	plan := strings.Replace(fleetPlan, "step = remote run test ! -e ../fail-here",
		"step = remote run --timeout=2m sh -c "+jobs.Quote(step), 1)
	os.WriteFile(f.file, []byte(strings.Replace(readFile(t, f.file), fleetPlan, plan, 1)), 0o600)
	r := f.conc("deploy", "web", "--parallel", "2")
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	rec := recap(t, r)
	if recapStatus(rec, "node1") != "FAILED" || recapStatus(rec, "node2") != "STOPPED" || f.deployed(2) {
		t.Fatalf("node1 %s, node2 %s, node2 deployed %v; want FAILED, STOPPED before step 4, false:\n%s",
			recapStatus(rec, "node1"), recapStatus(rec, "node2"), f.deployed(2), r)
	}
	if !strings.Contains(rec, "node2: STOPPED after step 3/5 run: the rollout stopped") || !strings.Contains(rec, "deploy node1 node2 --resume") {
		t.Errorf("the recap does not say why node2 stopped, or how to continue:\n%s", rec)
	}
	if r := f.conc("deploy", "node2", "--resume"); r.code != 0 || !f.deployed(2) {
		t.Errorf("resume node2: %s", r)
	}
}

// TestCtrlCBeforeANodeStarts: a Ctrl-C that lands after the deploy file
// loaded but before any node starts leaves every node NOT RUN and
// untouched, and the run says so and ends 4, STOPPED, not 0.
func TestCtrlCBeforeANodeStarts(t *testing.T) {
	f := newFleet(t, 2)
	file, err := config.Load(f.file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(jobs.ErrCanceled)
	for _, target := range []string{"web", "node1"} {
		nodes, _ := file.Targets([]string{target})
		var out bytes.Buffer
		rep := runreport.NewReporter(&out, nil, false, false)
		d, err := deploy.New(&deploy.Options{File: file, Ops: ops, Plan: "deploy", Agents: agents, Reporter: rep, Log: zerolog.Nop(), Verb: "deploy", Invocation: "conc"}, nodes)
		if err != nil {
			t.Fatal(err)
		}
		code := d.Run(ctx)
		rep.Close()
		if code != jobs.ExitStopped || !strings.Contains(out.String(), "operator stopped the run (Ctrl-C)") || f.touched(1) || f.touched(2) {
			t.Errorf("deploy %s after Ctrl-C: exit %d\n%s", target, code, out.String())
		}
	}
}

// TestCheckFleet: a preflight checks every node, whatever fails on one
// (no --max-fail stops it), and its recap's commands check again; they
// never deploy.
func TestCheckFleet(t *testing.T) {
	f := newFleet(t, 3)
	os.MkdirAll(filepath.Join(f.nodes[0].Home, ".conc-bundle"), 0o700) // node1 is locked
	r := f.conc("deploy", "web", "--dry-run", "--parallel", "1")
	if r.code != 3 {
		t.Fatalf("want exit 3, for node1's lock: %s", r)
	}
	rec := recap(t, r)
	for node, st := range map[string]string{"node1": "BLOCKED", "node2": "OK", "node3": "OK"} {
		if got := recapStatus(rec, node); got != st {
			t.Errorf("recap says %s %q, want %q:\n%s", node, got, st, rec)
		}
	}
	if !strings.Contains(rec, "deploy --dry-run node1\n") || strings.Contains(rec, "deploy node") {
		t.Errorf("the recap's commands do not check again:\n%s", rec)
	}
	if f.touched(2) || f.touched(3) {
		t.Errorf("a dry run left the agent or a bundle on node2 (%v) or node3 (%v)", f.touched(2), f.touched(3))
	}
}
