package jobs

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Info describes an op: its name and doc line, where it runs, and all that
// the deploy file's loader, the work loop and the agent must know of it. It
// is the op's whole contract with the rest of conc: nothing looks an op up
// by its name to treat it specially.
type Info struct {
	Name  string
	Usage string // the arguments, e.g. "GLOB [--into DIR]"
	Doc   string // one line
	Hosts []Host // where the op may run

	// InController says that as a remote job the op runs in the
	// controller, not the agent: it needs what only the controller has,
	// such as the deploy file's directory and SFTP (template), or it is
	// what starts the agent (open_bundle).
	InController bool
	// Bundle says what the op does with the node's bundle, which decides
	// where it may stand in a plan and how the run holds the lock.
	Bundle BundleUse
	// Input names what the controller gives a job of the op besides its
	// arguments, through jobs.InputReceiver.
	Input Input
	// Pauses says that a job of the op that ends STOPPED stopped the run
	// on purpose, and is done: resuming goes on after it (pause).
	Pauses bool
}

// BundleUse is what an op does with the node's bundle, the lock.
type BundleUse int

// The uses of the bundle. Every remote job works in the bundle, so
// WritesBundle matters for local ops.
const (
	NoBundle     BundleUse = iota
	OpensBundle            // remote: creates the bundle, the lock, and starts the agent
	ClosesBundle           // remote: removes the bundle, releasing the lock
	WritesBundle           // local: writes into the node's bundle by its path (SFTP, sshfs)
)

// Input is what the controller gives a job besides its arguments.
type Input int

// The inputs.
const (
	NoInput   Input = iota
	NodeTests       // the node's tests, compiled (nodetest)
)

// Supports reports whether the op may run on h.
func (i Info) Supports(h Host) bool { return slices.Contains(i.Hosts, h) }

// Opens reports whether a job of this op on h takes the node's lock.
func (i Info) Opens(h Host) bool { return h == Remote && i.Bundle == OpensBundle }

// Closes reports whether a job of this op on h releases the node's lock.
func (i Info) Closes(h Host) bool { return h == Remote && i.Bundle == ClosesBundle }

// UnderLock reports whether a job of this op on h works in the node's
// bundle, so that the run must hold it: every remote job but the one that
// takes the lock, and local jobs that write into the bundle.
func (i Info) UnderLock(h Host) bool {
	if h == Remote {
		return i.Bundle != OpensBundle
	}
	return i.Bundle == WritesBundle
}

// Here reports whether a job of this op on h runs in the controller.
func (i Info) Here(h Host) bool { return h == Local || i.InController }

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
	// Change says whether an op that writes files changed what was there
	// (Changed) or found it as it would have made it (Unchanged); "" for
	// ops that do not say.
	Change string
}

// The values of Result.Change.
const (
	Changed   = "changed"
	Unchanged = "unchanged"
)

// LocalInputs is an action that reads local files it names from the
// start, relative to the deploy file's directory dir: conc checks them
// before the run, so that a missing file is found before the node is
// locked, not after.
type LocalInputs interface {
	CheckInputs(dir string) error
}

// Resultf returns a Result with a formatted message.
func Resultf(s Status, format string, args ...any) Result {
	return Result{Status: s, Message: fmt.Sprintf(format, args...)}
}

// Catalogue is the set of ops a program knows. It is made once, in main,
// and handed to whoever prepares jobs: the deploy file's loader and the
// work loop in conc, the agent on the node. A program that embeds conc adds
// its own ops to the sets it passes.
type Catalogue struct {
	ops map[string]Op
}

// NewCatalogue makes a catalogue of the ops in sets. Two ops of one name
// are an error: a programming error in the caller.
func NewCatalogue(sets ...[]Op) (*Catalogue, error) {
	c := &Catalogue{ops: map[string]Op{}}
	for _, set := range sets {
		for _, op := range set {
			name := op.Info().Name
			if _, dup := c.ops[name]; dup {
				return nil, fmt.Errorf("two ops named %q", name)
			}
			c.ops[name] = op
		}
	}
	return c, nil
}

// MustCatalogue is NewCatalogue for a program's fixed sets of ops; it
// panics on a duplicate name.
func MustCatalogue(sets ...[]Op) *Catalogue {
	c, err := NewCatalogue(sets...)
	if err != nil {
		panic("jobs: " + err.Error())
	}
	return c
}

// Lookup returns the op named name.
func (c *Catalogue) Lookup(name string) (Op, bool) {
	if c == nil {
		return nil, false
	}
	op, ok := c.ops[name]
	return op, ok
}

// Info returns the description of the op named name; the zero Info for an
// op the catalogue does not know.
func (c *Catalogue) Info(name string) Info {
	if op, ok := c.Lookup(name); ok {
		return op.Info()
	}
	return Info{}
}

// All returns every op, sorted by name.
func (c *Catalogue) All() []Op {
	ops := make([]Op, 0, len(c.ops))
	for _, op := range c.ops {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Info().Name < ops[j].Info().Name })
	return ops
}

// Prepare looks up j's op and prepares it, with an error that says what to
// do next when the op is unknown or does not run on j's host.
func (c *Catalogue) Prepare(j Job) (Action, error) {
	op, ok := c.Lookup(j.Op)
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
