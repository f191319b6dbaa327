package jobs

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Info describes an op for `conc ops`, `conc plan` and load-time checks.
type Info struct {
	Name  string
	Usage string // the arguments, e.g. "GLOB [--into DIR]"
	Doc   string // one line
	Hosts []Host // where the op may run
}

// Supports reports whether the op may run on h.
func (i Info) Supports(h Host) bool { return slices.Contains(i.Hosts, h) }

// Op is a named operation.
type Op interface {
	Info() Info
	// Prepare checks args for a job on host h and returns what will run. It
	// must not touch the system: the controller calls it for every step at
	// load time, before it connects, and the agent calls it again when the
	// job arrives.
	Prepare(h Host, args []string) (Action, error)
}

// Action is a prepared job.
type Action interface {
	// Run does the job. It returns when the work is done or ctx is done;
	// a Status the caller maps from ctx (TIMED OUT, STOPPED) overrides the
	// one returned after ctx ends.
	Run(ctx context.Context, env Env) Result
}

// SudoUser is implemented by actions that need the sudo password, so that
// the controller asks for it once, before it connects, only when a plan
// needs it.
type SudoUser interface {
	NeedsSudo() bool
}

// Result is what a job reports.
type Result struct {
	Status   Status
	Message  string
	ExitCode int    // of the job's command, when there was one
	Output   []byte // the tail of the job's output, shown when it fails
}

// Resultf returns a Result with a formatted message.
func Resultf(s Status, format string, args ...any) Result {
	return Result{Status: s, Message: fmt.Sprintf(format, args...)}
}

var registry = struct {
	sync.RWMutex
	ops map[string]Op
}{ops: map[string]Op{}}

// Register adds op to the registry. A program that embeds conc's agent and
// controller registers its own ops in init, on both sides. Register panics
// on a duplicate name, which is a programming error.
func Register(op Op) {
	name := op.Info().Name
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.ops[name]; dup {
		panic("jobs: op registered twice: " + name)
	}
	registry.ops[name] = op
}

// Lookup returns the op named name.
func Lookup(name string) (Op, bool) {
	registry.RLock()
	defer registry.RUnlock()
	op, ok := registry.ops[name]
	return op, ok
}

// All returns every registered op, sorted by name.
func All() []Op {
	registry.RLock()
	defer registry.RUnlock()
	ops := make([]Op, 0, len(registry.ops))
	for _, op := range registry.ops {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Info().Name < ops[j].Info().Name })
	return ops
}

// Prepare looks up j's op and prepares it, with an error that says what to
// do next when the op is unknown or does not run on j's host.
func Prepare(j Job) (Action, error) {
	op, ok := Lookup(j.Op)
	if !ok {
		return nil, fmt.Errorf("unknown op %q (conc ops lists them)", j.Op)
	}
	info := op.Info()
	if !info.Supports(j.Host) {
		return nil, fmt.Errorf("op %s does not run on %s; it runs on %s", j.Op, j.Host, hostList(info.Hosts))
	}
	a, err := op.Prepare(j.Host, j.Args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (usage: %s %s)", j.Op, err, j.Op, info.Usage)
	}
	return a, nil
}

func hostList(hs []Host) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = string(h)
	}
	return strings.Join(s, " and ")
}
