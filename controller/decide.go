package controller

import (
	"fmt"
	"slices"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/jobs"
)

// The resume decision: given the node's bundle as its agent found it and
// this workstation's runs of the node, what a --resume or --from does.
// These functions do no I/O, so every shape of journal and lock is a row in
// a table test; resume.go reads the facts and carries the decision out.

// resumeFacts is what a resume decides from.
type resumeFacts struct {
	node     string
	plan     string // the plan being run
	planHash string // how its steps resolve for the node now
	steps    int
	// underLock marks the steps, from 1, that work in the node's bundle
	// and so need the run to hold it (remote jobs but open_bundle, and
	// local jobs that write into the bundle); opens, those that are remote
	// open_bundle.
	underLock, opens map[int]bool
	from             int  // --from, resolved; 0 without
	force            bool // --force-plan-change
	// invocation and verb are how the operator called conc ("conc -f
	// x.ini", "deploy"), for hints that work as they stand.
	invocation, verb string

	status NodeStatus // the node's bundle
	run    *State     // the local run it concerns (see candidate), or nil
	local  []bundle.Entry
}

// resumeKind is what a resume comes to.
type resumeKind int

const (
	resumeRefused resumeKind = iota // nothing runs, nothing changes
	resumeDone                      // every step is done: nothing to run
	resumeAt                        // run from step first
)

// resumeDecision is the outcome, with what resume.go needs to carry it out.
type resumeDecision struct {
	kind    resumeKind
	status  jobs.Status // refused: BLOCKED, or "" for the operator's mistake (exit 2)
	message string      // refused: why, and what to do

	run      State          // the run continued
	entries  []bundle.Entry // its journal: the local one with the node's folded in
	fromNode bool           // rebuilt from the node's record: it began elsewhere
	attach   bool           // the run holds the node's bundle: join it first
	first    int            // resumeAt: the step to start at
}

// candidate picks the local run a resume concerns: the one whose deploy
// id the node's lock carries, or, on a free node, the newest run if it is
// unfinished: an older unfinished run was overtaken by a newer one, and
// continuing it would undo that. runs are newest first.
func candidate(runs []State, st NodeStatus) (State, bool) {
	if !st.Held {
		if len(runs) > 0 && runs[0].Status != string(jobs.OK) {
			return runs[0], true
		}
		return State{}, false
	}
	for _, r := range runs {
		if st.Lock != nil && r.DeployID == st.Lock.DeployID {
			return r, true
		}
	}
	return State{}, false
}

// decideResume decides a resume.
func decideResume(f resumeFacts) resumeDecision {
	refuse := func(s jobs.Status, format string, args ...any) resumeDecision {
		return resumeDecision{kind: resumeRefused, status: s, message: fmt.Sprintf(format, args...)}
	}
	held := f.status.Lock
	var d resumeDecision
	switch {
	case f.status.Held && (held == nil || held.DeployID == ""):
		return refuse(jobs.Blocked, "%s is locked by a bundle without a lock record (%s); look with conc status %s", f.node, orNone(f.status.Note), f.node)
	case f.status.Held && f.status.Live:
		return refuse(jobs.Blocked, "%s is held by a live run: %s; wait for it to stop, or stop it", f.node, held)
	case f.status.Held && f.run != nil:
		d = resumeDecision{run: *f.run, attach: true, entries: mergeLatest(f.local, held.Journal)}
	case f.status.Held:
		// The run began on another workstation: continue from the
		// node's own record of it.
		st := State{Lock: *held, Status: stateRunning}
		st.Journal = nil
		d = resumeDecision{run: st, attach: true, fromNode: true, entries: mergeLatest(nil, held.Journal)}
	case f.run == nil:
		return refuse("", "no unfinished run of %s to resume; start one with `%s %s %s`", f.node, f.invocation, f.verb, f.node)
	case heldLock(f.local):
		return refuse(jobs.Blocked, "deploy %s held %s, but the node's bundle is gone (removed by conc unlock, or by hand); start a new deploy", f.run.DeployID, f.node)
	default:
		d = resumeDecision{run: *f.run, entries: mergeLatest(f.local, nil)}
	}
	if d.run.Plan != f.plan {
		return refuse("", "the run to resume is of plan %q: run `%s run %s %s --resume`", d.run.Plan, f.invocation, d.run.Plan, f.node)
	}
	if d.run.PlanHash != f.planHash && !f.force {
		return refuse("", "%v (its steps now resolve differently); check `%s plan %s --node %s`, then resume with --force-plan-change", ErrPlanChanged, f.invocation, f.plan, f.node)
	}
	d.first = f.from
	if d.first == 0 {
		d.first = firstUndone(d.entries, f.steps)
	}
	d.kind = resumeAt
	if d.first == 0 {
		d.kind = resumeDone
	}
	if d.kind == resumeAt && !d.attach && f.underLock[d.first] {
		return refuse("", "step %d works in the node's bundle, which deploy %s does not hold; %s",
			d.first, d.run.DeployID, fromOpen(f.opens, d.first))
	}
	return d
}

// fromOpen says where to resume a run that does not hold the node: from
// the remote open_bundle before step.
func fromOpen(opens map[int]bool, step int) string {
	for s := step; s > 0; s-- {
		if opens[s] {
			return fmt.Sprintf("take the node first: resume with --from %d (remote open_bundle)", s)
		}
	}
	return "start a new run"
}

func orNone(s string) string {
	if s == "" {
		return "nothing more is known"
	}
	return s
}

// newer reports whether e is a later outcome of its step than have.
func newer(e, have bundle.Entry) bool {
	if e.Seq != have.Seq {
		return e.Seq > have.Seq
	}
	return e.Seq == 0 && e.Ended.After(have.Ended)
}

// lastSeq is the highest Seq in a journal: a resumed run numbers its jobs
// on from there.
func lastSeq(entries []bundle.Entry) int64 {
	var m int64
	for _, e := range entries {
		m = max(m, e.Seq)
	}
	return m
}

// firstUndone returns the first step, from 1, that is not done, or 0 when
// every step of an n-step plan is. OK and skipped steps are done, and so
// is a pause that stopped the run: resuming goes on after it.
func firstUndone(entries []bundle.Entry, n int) int {
	latest := map[int]bundle.Entry{}
	for _, e := range entries {
		latest[e.Step] = e
	}
	for s := 1; s <= n; s++ {
		e, ok := latest[s]
		done := ok && (e.Status == string(jobs.OK) || e.Status == bundle.Skipped ||
			e.Op == jobs.OpPause && e.Status == string(jobs.Stopped))
		if !done {
			return s
		}
	}
	return 0
}

// heldLock reports whether, by a journal, the run holds the node's bundle:
// remote open_bundle went OK and remote close_bundle has not.
func heldLock(entries []bundle.Entry) bool {
	held := false
	for _, e := range bundle.Fold(entries) {
		if e.Host != string(jobs.Remote) || e.Status != string(jobs.OK) {
			continue
		}
		switch e.Op {
		case jobs.OpOpenBundle:
			held = true
		case jobs.OpCloseBundle:
			held = false
		}
	}
	return held
}

// mergeLatest folds this workstation's journal of a run and the node's,
// keeping for each step its latest entry, in step order. Latest is by Seq;
// for one job in both journals, the node's copy wins, since the agent saw
// a remote job end even when its result never reached conc. Journals
// written before Seq existed fall back to comparing the time jobs ended.
func mergeLatest(local, node []bundle.Entry) []bundle.Entry {
	latest := map[int]bundle.Entry{}
	for _, e := range slices.Concat(node, local) {
		if have, ok := latest[e.Step]; !ok || newer(e, have) {
			latest[e.Step] = e
		}
	}
	all := make([]bundle.Entry, 0, len(latest))
	for _, e := range latest {
		all = append(all, e)
	}
	return bundle.Fold(all)
}
