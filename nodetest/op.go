package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/concdeploy/conc/jobs"
)

// OpName is the op that runs a node's tests as a job of a plan, and that
// conc test runs on its own.
const OpName = "nodetest"

// Op is the nodetest op, for a catalogue (jobs.NewCatalogue).
func Op() jobs.Op { return op{} }

type op struct{}

func (op) Info() jobs.Info {
	return jobs.Info{
		Name: OpName, Usage: "[--run REGEX]",
		Doc:   "run the node's tests ([test NAME] sections, then registered Go tests) on the node; OK when none fails, FAILED naming those that did",
		Hosts: []jobs.Host{jobs.Remote},
		Input: jobs.NodeTests,
	}
}

func (op) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	fs := jobs.NewFlags(OpName, true)
	run := fs.String("run", "", "run only the tests whose names match REGEX")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("takes no arguments but --run")
	}
	a := action{}
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			return nil, fmt.Errorf("--run: %w", err)
		}
		a.filter = re
	}
	return a, nil
}

type action struct {
	filter *regexp.Regexp
	specs  []Spec
}

// EncodeSpecs makes the input the op takes: the node's declarative tests.
func EncodeSpecs(specs []Spec) ([]byte, error) {
	return json.Marshal(specs)
}

// WithInput implements jobs.InputReceiver.
func (a action) WithInput(data []byte) (jobs.Action, error) {
	if len(data) == 0 {
		return a, nil
	}
	if err := json.Unmarshal(data, &a.specs); err != nil {
		return nil, fmt.Errorf("read the test definitions: %w", err)
	}
	return a, nil
}

func (a action) Run(ctx context.Context, env jobs.Env) jobs.Result {
	emitter, _ := env.(jobs.EventEmitter)
	sum := Run(ctx, env, a.specs, Options{Filter: a.filter, Emit: func(e Event) {
		env.Output().Write([]byte(FormatEvent("", e)))
		if emitter != nil {
			if b, err := json.Marshal(e); err == nil {
				emitter.Emit(b)
			}
		}
	}})
	if sum.Failed > 0 {
		return jobs.Resultf(jobs.Failed, "%s; failed: %s", sum, strings.Join(sum.FailedNames, ", "))
	}
	return jobs.Resultf(jobs.OK, "%s", sum)
}

// FormatEvent renders an event the way go test -v does, prefixing the test
// name with the node's when it is given.
func FormatEvent(node string, e Event) string {
	name := e.Test
	if node != "" {
		name = node + "/" + name
	}
	var b strings.Builder
	switch e.Action {
	case ActionRun:
		fmt.Fprintf(&b, "=== RUN   %s\n", name)
		return b.String()
	case ActionPass:
		fmt.Fprintf(&b, "--- PASS: %s (%.2fs)\n", name, e.Duration.Seconds())
	case ActionFail:
		fmt.Fprintf(&b, "--- FAIL: %s (%.2fs)\n", name, e.Duration.Seconds())
	case ActionSkip:
		fmt.Fprintf(&b, "--- SKIP: %s (%.2fs)\n", name, e.Duration.Seconds())
	}
	for _, text := range []string{e.Message, e.Output} {
		if e.Action == ActionPass && text == e.Output {
			continue // like go test -v without -v's logs: a pass needs no story
		}
		for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			if line != "" {
				fmt.Fprintf(&b, "    %s\n", line)
			}
		}
	}
	return b.String()
}
