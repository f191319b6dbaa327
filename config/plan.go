package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/concdeploy/conc/jobs"
)

// Plan is a plan resolved for one node: every step substituted, parsed and
// prepared, so an unknown op or a bad argument is found before connecting.
type Plan struct {
	Name  string
	Pos   Pos
	Steps []Step
	Hash  string // of the resolved steps: a resumed run refuses a changed plan
}

// Step is one step of a resolved plan.
type Step struct {
	Number int // from 1
	Pos    Pos
	Line   string // as written in the deploy file
	Job    jobs.Job
	Info   jobs.Info // the op's description, from the catalogue
	Action jobs.Action
}

// UnderLock reports whether the step works in the node's bundle, so that
// the run must hold it (jobs.Info.UnderLock).
func (st Step) UnderLock() bool { return st.Info.UnderLock(st.Job.Host) }

// RawStep is a step as written, for conc plan without a node.
type RawStep struct {
	Number int
	Pos    Pos
	Line   string
}

// RawPlan returns a plan's steps as written.
func (f *File) RawPlan(name string) ([]RawStep, error) {
	s, ok := f.plans[name]
	if !ok {
		return nil, f.unknownPlan(name)
	}
	var out []RawStep
	for i, p := range s.values["step"] {
		out = append(out, RawStep{Number: i + 1, Pos: p.Pos, Line: p.Value})
	}
	return out, nil
}

func (f *File) unknownPlan(name string) error {
	hint := "the file has no [plan NAME] sections"
	if names := f.PlanNames(); len(names) > 0 {
		hint = "plans: " + strings.Join(names, ", ")
	}
	return errorf(Pos{File: f.Paths[0]}, "no plan %q (%s)", name, hint)
}

// Plan resolves the named plan for node n, preparing each step with the
// ops in the catalogue.
func (f *File) Plan(ops *jobs.Catalogue, name string, n *Node) (*Plan, error) {
	s, ok := f.plans[name]
	if !ok {
		return nil, f.unknownPlan(name)
	}
	p := &Plan{Name: name, Pos: s.pos}
	h := sha256.New()
	b := newBudget()
	for i, raw := range s.values["step"] {
		st, err := f.step(ops, i+1, raw, n, b)
		if err != nil {
			return nil, err
		}
		p.Steps = append(p.Steps, st)
		h.Write([]byte(st.Job.String() + "\n"))
	}
	p.Hash = hex.EncodeToString(h.Sum(nil))[:16]
	return p, p.checkShape()
}

// checkShape enforces that what works in the node's bundle runs under the
// lock: remote jobs, and local jobs that use the bundle, come after remote
// open_bundle and not after remote close_bundle.
func (p *Plan) checkShape() error {
	open, closed := false, false
	for _, st := range p.Steps {
		opens := st.Info.Opens(st.Job.Host)
		if !opens && !st.UnderLock() {
			continue
		}
		where := fmt.Sprintf("step %d (%s %s)", st.Number, st.Job.Host, st.Job.Op)
		switch {
		case opens:
			if open && !closed {
				return &Error{Pos: st.Pos, Msg: fmt.Sprintf("step %d opens the bundle a second time", st.Number)}
			}
			open, closed = true, false
		case !open:
			return &Error{Pos: st.Pos, Msg: where + " works in the node's bundle, which remote open_bundle creates and locks; put `step = remote open_bundle` before it"}
		case closed:
			return &Error{Pos: st.Pos, Msg: where + " comes after remote close_bundle has removed the bundle and released the node"}
		case st.Info.Closes(st.Job.Host):
			closed = true
		}
	}
	return nil
}

func (f *File) step(ops *jobs.Catalogue, num int, raw Param, n *Node, b *budget) (Step, error) {
	at := scope{pos: raw.Pos, node: n.Name, what: "step " + strconv.Itoa(num)}
	line, err := expand(raw.Value, at, paramLookup(n))
	if err != nil {
		return Step{}, err
	}
	if err := b.take(line, at); err != nil {
		return Step{}, err
	}
	job, err := jobs.ParseStep(line, n.Timeout())
	if err != nil {
		return Step{}, &Error{Pos: raw.Pos, Msg: "step " + strconv.Itoa(num), Err: err}
	}
	act, err := ops.Prepare(job)
	if err != nil {
		return Step{}, &Error{Pos: raw.Pos, Msg: "step " + strconv.Itoa(num), Err: err}
	}
	return Step{Number: num, Pos: raw.Pos, Line: raw.Value, Job: job, Info: ops.Info(job.Op), Action: act}, nil
}
