package runstate

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/nodeops"
)

// journal builds entries "step:op:status" in the order they ended.
func journal(specs ...string) []bundle.Entry {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var out []bundle.Entry
	for i, s := range specs {
		f := strings.Split(s, ":")
		host := string(jobs.Remote)
		if strings.HasPrefix(f[1], "local ") {
			host, f[1] = string(jobs.Local), strings.TrimPrefix(f[1], "local ")
		}
		out = append(out, bundle.Entry{Step: atoiOr(f[0]), Host: host, Op: f[1], Status: f[2], Ended: t0.Add(time.Duration(i) * time.Second)})
	}
	return out
}

func atoiOr(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestDecideResume covers every shape of journal and lock a resume can
// meet: each has one outcome, and none panics.
func TestDecideResume(t *testing.T) {
	run := func(id, status string) *State {
		return &State{Lock: bundle.Lock{DeployID: id, Plan: "deploy", PlanHash: "h1"}, Status: status}
	}
	held := func(id string, live bool, entries ...string) NodeLock {
		return NodeLock{Held: true, Live: live, Record: &bundle.Lock{DeployID: id, Plan: "deploy", PlanHash: "h1", Session: "s", Journal: journal(entries...)}}
	}
	stopped := []string{"1:open_bundle:OK", "2:run:OK", "3:run:STOPPED"}
	type resumeCase struct {
		name      string
		lock      NodeLock
		run       *State
		local     []bundle.Entry
		steps     int          // the plan's; 3 when 0
		underLock map[int]bool // steps in the bundle; 2 and 3 when nil
		from      int
		planHash  string
		force     bool
		kind      Kind
		refusal   jobs.Status // when refused
		first     int
		attach    bool
		fromNode  bool
		wantInMsg string
	}
	tests := []resumeCase{
		{name: "fresh: no run anywhere", kind: Refused, refusal: "", wantInMsg: "no unfinished run"},
		{name: "finished: the local run ended OK, the node is free", run: nil, kind: Refused, wantInMsg: "no unfinished run"},
		{name: "failed before locking the node", run: run("d1", "FAILED"), local: journal("1:local run:FAILED"), kind: At, first: 1},
		{name: "failed, holding the node", lock: held("d1", false, "1:open_bundle:OK", "2:run:FAILED"), run: run("d1", "FAILED"),
			local: journal("1:open_bundle:OK", "2:run:FAILED"), kind: At, first: 2, attach: true},
		{name: "stopped, holding the node", lock: held("d1", false, stopped...), run: run("d1", "STOPPED"), local: journal(stopped...), kind: At, first: 3, attach: true},
		{name: "stopped elsewhere: rebuilt from the node", lock: held("d1", false, stopped...), kind: At, first: 3, attach: true, fromNode: true},
		{name: "a local job only this workstation journaled", lock: held("d1", false, "1:open_bundle:OK"), run: run("d1", "STOPPED"),
			local: journal("1:open_bundle:OK", "2:local put:OK", "3:run:STOPPED"), kind: At, first: 3, attach: true},
		{name: "paused at the end", steps: 2, lock: held("d1", false, "1:open_bundle:OK", "2:pause:STOPPED"), run: run("d1", "STOPPED"),
			local: journal("1:open_bundle:OK", "2:pause:STOPPED"), kind: Done, attach: true},
		{name: "paused at the end, --from goes back", steps: 2, lock: held("d1", false, "1:open_bundle:OK", "2:pause:STOPPED"), run: run("d1", "STOPPED"),
			from: 2, kind: At, first: 2, attach: true},
		{name: "every step done, node free", steps: 1, run: run("d1", "ERROR"), local: journal("1:local put:OK"), kind: Done},
		{name: "skipped steps are done", lock: held("d1", false, "1:open_bundle:OK", "2:run:SKIPPED", "3:run:FAILED"), run: run("d1", "FAILED"),
			kind: At, first: 3, attach: true},
		{name: "unlocked: the run held the node, the bundle is gone", run: run("d1", "STOPPED"), local: journal(stopped...), kind: Refused, refusal: jobs.Blocked, wantInMsg: "bundle is gone"},
		{name: "unlocked after close_bundle failed", run: run("d1", "FAILED"), local: journal("1:open_bundle:OK", "2:close_bundle:OK", "3:local run:FAILED"), underLock: map[int]bool{2: true},
			kind: At, first: 3},
		{name: "live holder", lock: held("d1", true, stopped...), run: run("d1", "STOPPED"), kind: Refused, refusal: jobs.Blocked, wantInMsg: "live run"},
		{name: "a bundle without a record", lock: NodeLock{Held: true}, kind: Refused, refusal: jobs.Blocked, wantInMsg: "without a lock record"},
		{name: "the node's run is of another plan", lock: NodeLock{Held: true, Record: &bundle.Lock{DeployID: "d9", Plan: "upgrade", PlanHash: "h1"}},
			kind: Refused, refusal: "", wantInMsg: `of plan "upgrade"`},
		{name: "blocked at open_bundle, --from past it on a free node", run: run("d1", "BLOCKED"), local: journal("1:open_bundle:BLOCKED"),
			from: 3, kind: Refused, refusal: "", wantInMsg: "--from 1 (remote open_bundle)"},
		{name: "plan changed", lock: held("d1", false, stopped...), run: run("d1", "STOPPED"), planHash: "h2", kind: Refused, refusal: "", wantInMsg: "plan changed"},
		{name: "plan changed, forced", lock: held("d1", false, stopped...), run: run("d1", "STOPPED"), planHash: "h2", force: true, kind: At, first: 3, attach: true},
	}
	// A step run again with --from failed on this workstation; the node,
	// whose clock is ahead, has only the first run's OK, which the agent
	// journaled before it died. Seq, not the clocks, says which is latest.
	skewNode := []bundle.Entry{{Step: 1, Seq: 1, Host: "remote", Op: "open_bundle", Status: "OK"},
		{Step: 2, Seq: 2, Host: "remote", Op: "run", Status: "OK", Ended: time.Now().Add(time.Hour)}}
	skewLocal := []bundle.Entry{skewNode[0], skewNode[1], {Step: 2, Seq: 3, Host: "remote", Op: "run", Status: "FAILED", Ended: time.Now()}}
	tests = append(tests, resumeCase{name: "clocks disagree: the later job wins", lock: NodeLock{Held: true, Record: &bundle.Lock{DeployID: "d1", Plan: "deploy", PlanHash: "h1", Journal: skewNode}},
		run: run("d1", "FAILED"), local: skewLocal, kind: At, first: 2, attach: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Facts{Ops: testOps, Node: "node1", Plan: "deploy", PlanHash: "h1", Steps: tt.steps, From: tt.from, Force: tt.force,
				UnderLock: tt.underLock, Opens: map[int]bool{1: true},
				Invocation: "conc", Verb: "deploy", Lock: tt.lock, Run: tt.run, Local: tt.local}
			if f.UnderLock == nil {
				f.UnderLock = map[int]bool{2: true, 3: true}
			}
			if f.Steps == 0 {
				f.Steps = 3
			}
			if tt.planHash != "" {
				f.PlanHash = tt.planHash
			}
			d := Decide(f)
			if d.Kind != tt.kind {
				t.Fatalf("kind %d (%q), want %d", d.Kind, d.Message, tt.kind)
			}
			switch d.Kind {
			case Refused:
				if d.Status != tt.refusal || !strings.Contains(d.Message, tt.wantInMsg) {
					t.Errorf("refused %q: %q, want %q: ...%s...", d.Status, d.Message, tt.refusal, tt.wantInMsg)
				}
			case At:
				if d.First != tt.first {
					t.Errorf("first = %d, want %d", d.First, tt.first)
				}
			}
			if d.Kind != Refused && (d.Attach != tt.attach || d.FromNode != tt.fromNode) {
				t.Errorf("attach %v fromNode %v, want %v %v", d.Attach, d.FromNode, tt.attach, tt.fromNode)
			}
		})
	}
}

func TestCandidate(t *testing.T) {
	runs := []State{
		{Lock: bundle.Lock{DeployID: "new"}, Status: "OK"},
		{Lock: bundle.Lock{DeployID: "mid"}, Status: "FAILED"},
		{Lock: bundle.Lock{DeployID: "old"}, Status: "STOPPED"},
	}
	if r, ok := Candidate(runs, NodeLock{}); ok {
		t.Errorf("free node, newest run finished: %q; want none: a newer run overtook the unfinished ones", r.DeployID)
	}
	if r, ok := Candidate(runs[1:], NodeLock{}); !ok || r.DeployID != "mid" {
		t.Errorf("free node: %q, %v; want the newest run, mid, unfinished", r.DeployID, ok)
	}
	if r, ok := Candidate(runs, NodeLock{Held: true, Record: &bundle.Lock{DeployID: "old"}}); !ok || r.DeployID != "old" {
		t.Errorf("node held by old: %q, %v; want old", r.DeployID, ok)
	}
	if _, ok := Candidate(runs, NodeLock{Held: true, Record: &bundle.Lock{DeployID: "elsewhere"}}); ok {
		t.Error("node held by a run this workstation has no journal of: want none")
	}
}

// testOps are conc's own node ops: what the journals' entries name.
var testOps = jobs.MustCatalogue(nodeops.Ops())
