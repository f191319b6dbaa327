package deploy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/concdeploy/conc/config"
)

// stops are the steps a run stops before or after; 0 is none.
type stops struct{ before, after int }

// resolveStep turns a step spec into a step number: a number, an op name
// (its first step), or op#k (its k-th step).
func resolveStep(p *config.Plan, spec string) (int, error) {
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 1 || n > len(p.Steps) {
			return 0, fmt.Errorf("step %d: plan %s has steps 1 to %d (conc plan %s)", n, p.Name, len(p.Steps), p.Name)
		}
		return n, nil
	}
	op, k := spec, 1
	if i := strings.LastIndexByte(spec, '#'); i >= 0 {
		var err error
		op = spec[:i]
		if k, err = strconv.Atoi(spec[i+1:]); err != nil || k < 1 {
			return 0, fmt.Errorf("step %q: after # comes a count from 1, as in copy_product#2", spec)
		}
	}
	seen := 0
	for _, st := range p.Steps {
		if st.Job.Op == op {
			seen++
			if seen == k {
				return st.Number, nil
			}
		}
	}
	if seen == 0 {
		return 0, fmt.Errorf("step %q: plan %s has no %s step (conc plan %s)", spec, p.Name, op, p.Name)
	}
	return 0, fmt.Errorf("step %q: plan %s has only %d %s step(s)", spec, p.Name, seen, op)
}

// resolveStops reads --stop-before and --stop-after.
func resolveStops(p *config.Plan, before, after string) (stops, error) {
	var s stops
	var err error
	if before != "" {
		if s.before, err = resolveStep(p, before); err != nil {
			return s, fmt.Errorf("--stop-before: %w", err)
		}
	}
	if after != "" {
		if s.after, err = resolveStep(p, after); err != nil {
			return s, fmt.Errorf("--stop-after: %w", err)
		}
	}
	return s, nil
}
