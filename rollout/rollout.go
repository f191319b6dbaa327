// Package rollout decides how a run over many nodes rolls out: the
// batches that start one after the other, and the number of failed nodes
// past which no node starts and running ones stop at their next job. Its
// decisions are pure; deploy carries them out.
package rollout

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
)

// Size is a count of nodes, or a percentage of a run's nodes.
type Size struct {
	N       int
	Percent bool
}

// ParseSize reads N or N%.
func ParseSize(s string) (Size, error) {
	num, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || pct && n > 100 {
		return Size{}, fmt.Errorf("%q is not a count of nodes (N) or a percentage of them (N%%, at most 100%%)", s)
	}
	return Size{N: n, Percent: pct}, nil
}

// ParseBatches reads a --batch: sizes separated by commas, the last of
// which repeats until every node had its turn (1,25%,100%: one node, then
// a quarter, then the rest).
func ParseBatches(s string) ([]Size, error) {
	var out []Size
	for _, f := range strings.Split(s, ",") {
		z, err := ParseSize(f)
		if err != nil {
			return nil, fmt.Errorf("batch %w", err)
		}
		if z.N == 0 {
			return nil, fmt.Errorf("batch %q: a batch of no nodes never ends", f)
		}
		out = append(out, z)
	}
	return out, nil
}

// Of is the size out of total nodes; a percentage rounds down.
func (z Size) Of(total int) int {
	if !z.Percent {
		return z.N
	}
	return z.N * total / 100
}

func (z Size) String() string {
	if z.Percent {
		return fmt.Sprintf("%d%%", z.N)
	}
	return strconv.Itoa(z.N)
}

// Rollout makes a run over many nodes a rolling one: batches that start
// only when the one before has ended, and a limit of failed nodes past
// which no node starts and running ones stop at their next job.
type Rollout struct {
	Batches []Size // each batch's size, the last repeating; none: one batch
	MaxFail Size   // failed nodes tolerated; the zero Size tolerates none
}

// Split splits n nodes into the rollout's batches, as index ranges.
func (r Rollout) Split(n int) [][2]int {
	if len(r.Batches) == 0 {
		return [][2]int{{0, n}}
	}
	var out [][2]int
	for i, start := 0, 0; start < n; i++ {
		size := r.Batches[min(i, len(r.Batches)-1)].Of(n)
		size = max(size, 1)
		end := min(start+size, n)
		out = append(out, [2]int{start, end})
		start = end
	}
	return out
}

// State is shared by a run's nodes: how many failed, and whether
// that stopped the rollout.
type State struct {
	Limit int // failures tolerated

	mu      sync.Mutex
	failed  []string
	onHalt  map[int]func()
	nextKey int
}

// Fail counts a failed node. The failure that halts the rollout calls the
// OnHalt functions, on the caller's goroutine, before Fail returns.
func (s *State) Fail(node string) {
	s.mu.Lock()
	s.failed = append(s.failed, node)
	var calls []func()
	if len(s.failed) == s.Limit+1 {
		for _, f := range s.onHalt {
			calls = append(calls, f)
		}
	}
	s.mu.Unlock()
	for _, f := range calls {
		f()
	}
}

// OnHalt registers f to be called when the rollout halts, at once if it
// has; the returned func unregisters it. A node with jobs sent ahead to
// its agent uses it to drop them as soon as it must stop.
func (s *State) OnHalt(f func()) (stop func()) {
	if s == nil {
		return func() {}
	}
	s.mu.Lock()
	if len(s.failed) > s.Limit {
		s.mu.Unlock()
		f()
		return func() {}
	}
	if s.onHalt == nil {
		s.onHalt = map[int]func(){}
	}
	s.nextKey++
	key := s.nextKey
	s.onHalt[key] = f
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.onHalt, key)
		s.mu.Unlock()
	}
}

// Halted says why the rollout stopped, or "" while it goes on.
func (s *State) Halted() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failed) <= s.Limit {
		return ""
	}
	return fmt.Sprintf("the rollout stopped: %d node(s) failed (%s), more than --max-fail %d",
		len(s.failed), strings.Join(s.failed, ", "), s.Limit)
}

// Failing reports whether a node's end counts against --max-fail: it did
// not reach the end of the plan and nobody asked it to stop there.
func Failing(st jobs.Status) bool {
	return st != jobs.OK && st != jobs.Stopped
}

// Of resolves a run's rollout: the flags batch and maxFail when
// given, else what the groups among targets set (batch, max_fail), else
// one batch that stops at the first failure.
func Of(f *config.File, targets []string, batch, maxFail string) (Rollout, error) {
	var r Rollout
	where := "--batch"
	if batch == "" {
		p, err := f.GroupSetting(targets, config.KeyBatch)
		if err != nil {
			return r, err
		}
		batch, where = p.Value, p.Pos.String()+": batch"
	}
	if batch != "" {
		b, err := ParseBatches(batch)
		if err != nil {
			return r, fmt.Errorf("%s: %w", where, err)
		}
		r.Batches = b
	}
	where = "--max-fail"
	if maxFail == "" {
		p, err := f.GroupSetting(targets, config.KeyMaxFail)
		if err != nil {
			return r, err
		}
		maxFail, where = p.Value, p.Pos.String()+": max_fail"
	}
	if maxFail != "" {
		m, err := ParseSize(maxFail)
		if err != nil {
			return r, fmt.Errorf("%s: %w", where, err)
		}
		r.MaxFail = m
	}
	return r, nil
}
