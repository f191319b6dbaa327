package nodetest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/concdeploy/conc/jobs"
)

// Event actions, as go test -json names them.
const (
	ActionRun  = "run"
	ActionPass = "pass"
	ActionFail = "fail"
	ActionSkip = "skip"
)

// Event is a test starting or ending, streamed to the controller as it
// happens.
type Event struct {
	Action   string        `json:"action"`
	Test     string        `json:"test"`
	Duration time.Duration `json:"duration,omitempty"`
	Output   string        `json:"output,omitempty"`  // the test's log
	Message  string        `json:"message,omitempty"` // why it failed or was skipped
	Sub      bool          `json:"sub,omitempty"`     // a subtest: reported, not counted
}

// Summary counts a run's results: its tests, not their subtests.
type Summary struct {
	Passed, Failed, Skipped int
	FailedNames             []string
}

func (s Summary) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", s.Passed, s.Failed, s.Skipped)
}

// Options say which tests to run and where results go.
type Options struct {
	Filter *regexp.Regexp // nil: all
	Emit   func(Event)    // called as each test starts and ends
}

// Run runs the declarative tests, then the registered Go tests, one by
// one, and returns the summary.
func Run(ctx context.Context, env jobs.Env, specs []Spec, o Options) Summary {
	r := &runner{env: env, emit: o.Emit}
	for _, s := range specs {
		if o.Filter == nil || o.Filter.MatchString(s.Name) {
			r.count(r.run(ctx, s.Name, s.Timeout, s.test(), false))
		}
	}
	for _, name := range registered() {
		if o.Filter == nil || o.Filter.MatchString(name) {
			r.count(r.run(ctx, name, DefaultTimeout, lookup(name), false))
		}
	}
	return r.sum
}

type runner struct {
	env  jobs.Env
	emit func(Event)
	sum  Summary
}

func (r *runner) count(e Event) {
	switch e.Action {
	case ActionPass:
		r.sum.Passed++
	case ActionFail:
		r.sum.Failed++
		r.sum.FailedNames = append(r.sum.FailedNames, e.Test)
	case ActionSkip:
		r.sum.Skipped++
	}
}

func (r *runner) send(e Event) {
	if r.emit != nil {
		r.emit(e)
	}
}

// run runs one test in its own goroutine, so that Fatal and Skip can end
// it, and bounds it with its timeout.
func (r *runner) run(ctx context.Context, name string, timeout time.Duration, f Func, sub bool) Event {
	r.send(Event{Action: ActionRun, Test: name, Sub: sub})
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := &T{name: name, ctx: ctx, env: r.env, r: r, done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(t.done)
		defer func() {
			if p := recover(); p != nil {
				t.fail(fmt.Sprintf("panic: %v", p))
			}
		}()
		f(t)
	}()
	select {
	case <-t.done:
	case <-ctx.Done():
		// The test's commands die with the context; give it a moment to
		// return, then report it whatever it is doing.
		select {
		case <-t.done:
		case <-time.After(5 * time.Second):
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.fail(fmt.Sprintf("timed out after %s", timeout))
		} else {
			t.fail("stopped")
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := Event{Test: name, Duration: time.Since(start), Output: t.log.String(), Message: strings.Join(t.msgs, "\n"), Sub: sub}
	switch {
	case t.failed:
		e.Action = ActionFail
	case t.skipped:
		e.Action = ActionSkip
	default:
		e.Action = ActionPass
	}
	r.send(e)
	return e
}
