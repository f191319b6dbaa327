package runstate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/jobs"
)

// The resume decision: given the node's bundle as its agent found it and
// this workstation's runs of the node, what a --resume or --from does.
// These functions do no I/O, so every shape of journal and lock is a row in
// a table test; deploy reads the facts and carries the decision out.

// ErrPlanChanged is returned when a resume finds the plan changed since the
// run began: the journal's step numbers may no longer mean the same jobs.
var ErrPlanChanged = errors.New("the plan changed since the run began")

// Facts is what a resume decides from.
type Facts struct {
	Node     string
	Plan     string // the plan being run
	PlanHash string // how its steps resolve for the node now
	Steps    int
	// UnderLock marks the steps, from 1, that work in the node's bundle
	// and so need the run to hold it (remote jobs but open_bundle, and
	// local jobs that write into the bundle); Opens, those that are remote
	// open_bundle.
	UnderLock, Opens map[int]bool
	From             int  // --from, resolved; 0 without
	Force            bool // --force-plan-change
	// Invocation and Verb are how the operator called conc ("conc -f
	// x.ini", "deploy"), for hints that work as they stand.
	Invocation, Verb string

	Ops   *jobs.Catalogue // what the journal's ops are and do
	Lock  NodeLock        // the node's bundle, as its agent found it
	Run   *State          // the local run it concerns (see Candidate), or nil
	Local []bundle.Entry  // that run's local journal, in the order written
}

// NodeLock is the node's bundle as its agent found it.
type NodeLock struct {
	Held   bool         // the bundle exists
	Live   bool         // a live agent holds it
	Record *bundle.Lock // its record and journal; nil when it has none
	Note   string       // what the agent could not read
}

// Kind is what a resume comes to.
type Kind int

// The kinds of resume.
const (
	Refused Kind = iota // nothing runs, nothing changes
	Done                // every step is done: nothing to run
	At                  // run from step First
)

// Decision is the outcome, with what the caller needs to carry it out.
type Decision struct {
	Kind    Kind
	Status  jobs.Status // Refused: BLOCKED, or "" for the operator's mistake (exit 2)
	Message string      // Refused: why, and what to do

	Run      State          // the run continued
	Entries  []bundle.Entry // its journal: the local one with the node's folded in
	FromNode bool           // rebuilt from the node's record: it began elsewhere
	Attach   bool           // the run holds the node's bundle: join it first
	First    int            // At: the step to start at
}

// Candidate picks the local run a resume concerns: the one whose deploy
// id the node's lock carries, or, on a free node, the newest run if it is
// unfinished: an older unfinished run was overtaken by a newer one, and
// continuing it would undo that. runs are newest first.
func Candidate(runs []State, st NodeLock) (State, bool) {
	if !st.Held {
		if len(runs) > 0 && runs[0].Status != string(jobs.OK) {
			return runs[0], true
		}
		return State{}, false
	}
	for _, r := range runs {
		if st.Record != nil && r.DeployID == st.Record.DeployID {
			return r, true
		}
	}
	return State{}, false
}

// Decide decides a resume.
func Decide(f Facts) Decision {
	refuse := func(s jobs.Status, format string, args ...any) Decision {
		return Decision{Kind: Refused, Status: s, Message: fmt.Sprintf(format, args...)}
	}
	held := f.Lock.Record
	var d Decision
	switch {
	case f.Lock.Held && (held == nil || held.DeployID == ""):
		return refuse(jobs.Blocked, "%s is locked by a bundle without a lock record (%s); look with conc status %s", f.Node, orNone(f.Lock.Note), f.Node)
	case f.Lock.Held && f.Lock.Live:
		return refuse(jobs.Blocked, "%s is held by a live run: %s; wait for it to stop, or stop it", f.Node, held)
	case f.Lock.Held && f.Run != nil:
		d = Decision{Run: *f.Run, Attach: true, Entries: MergeLatest(f.Local, held.Journal)}
	case f.Lock.Held:
		// The run began on another workstation: continue from the
		// node's own record of it.
		st := State{Lock: *held, Status: Running}
		st.Journal = nil
		d = Decision{Run: st, Attach: true, FromNode: true, Entries: MergeLatest(nil, held.Journal)}
	case f.Run == nil:
		return refuse("", "no unfinished run of %s to resume; start one with `%s %s %s`", f.Node, f.Invocation, f.Verb, f.Node)
	case HeldLock(f.Local, f.Ops):
		return refuse(jobs.Blocked, "deploy %s held %s, but the node's bundle is gone (removed by conc unlock, or by hand); start a new deploy", f.Run.DeployID, f.Node)
	default:
		d = Decision{Run: *f.Run, Entries: MergeLatest(f.Local, nil)}
	}
	if d.Run.Plan != f.Plan {
		return refuse("", "the run to resume is of plan %q: run `%s run %s %s --resume`", d.Run.Plan, f.Invocation, d.Run.Plan, f.Node)
	}
	if d.Run.PlanHash != f.PlanHash && !f.Force {
		return refuse("", "%v (its steps now resolve differently); check `%s plan %s --node %s`, then resume with --force-plan-change", ErrPlanChanged, f.Invocation, f.Plan, f.Node)
	}
	d.First = f.From
	if d.First == 0 {
		d.First = FirstUndone(d.Entries, f.Steps, f.Ops)
	}
	d.Kind = At
	if d.First == 0 {
		d.Kind = Done
	}
	if d.Kind == At && !d.Attach && f.UnderLock[d.First] {
		return refuse("", "step %d works in the node's bundle, which deploy %s does not hold; %s",
			d.First, d.Run.DeployID, fromOpen(f.Opens, d.First))
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

// LastSeq is the highest Seq in a journal: a resumed run numbers its jobs
// on from there.
func LastSeq(entries []bundle.Entry) int64 {
	var m int64
	for _, e := range entries {
		m = max(m, e.Seq)
	}
	return m
}

// FirstUndone returns the first step, from 1, that is not done, or 0 when
// every step of an n-step plan is. OK and skipped steps are done, and so
// is a pause that stopped the run (jobs.Info.Pauses): resuming goes on
// after it.
func FirstUndone(entries []bundle.Entry, n int, ops *jobs.Catalogue) int {
	latest := map[int]bundle.Entry{}
	for _, e := range entries {
		latest[e.Step] = e
	}
	for s := 1; s <= n; s++ {
		e, ok := latest[s]
		done := ok && (e.Status == string(jobs.OK) || e.Status == bundle.Skipped ||
			e.Status == string(jobs.Stopped) && ops.Info(e.Op).Pauses)
		if !done {
			return s
		}
	}
	return 0
}

// HeldLock reports whether, by a journal, the run holds the node's bundle:
// the job that takes the lock (remote open_bundle) went OK, and the one
// that releases it (remote close_bundle) has not.
func HeldLock(entries []bundle.Entry, ops *jobs.Catalogue) bool {
	held := false
	for _, e := range bundle.Fold(entries) {
		if e.Status != string(jobs.OK) {
			continue
		}
		info, host := ops.Info(e.Op), jobs.Host(e.Host)
		switch {
		case info.Opens(host):
			held = true
		case info.Closes(host):
			held = false
		}
	}
	return held
}

// MergeLatest folds this workstation's journal of a run and the node's,
// keeping for each step its latest entry, in step order. Latest is by Seq;
// for one job in both journals, the node's copy wins, since the agent saw
// a remote job end even when its result never reached conc. Journals
// written before Seq existed fall back to comparing the time jobs ended.
func MergeLatest(local, node []bundle.Entry) []bundle.Entry {
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

// RecordedParams are the -p values of the run a resume concerns, which it
// applies again: from the node's record when the node holds a bundle (the
// run may have begun on another workstation), else from the local run.
func RecordedParams(f Facts) map[string]string {
	switch {
	case f.Lock.Held && f.Lock.Record != nil:
		return f.Lock.Record.Params
	case f.Run != nil:
		return f.Run.Params
	}
	return nil
}
