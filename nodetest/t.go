package nodetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/concdeploy/conc/jobs"
)

// T is a test's handle, like testing.T: it records failures and skips,
// collects the test's log, and runs commands on the node.
type T struct {
	name string
	ctx  context.Context
	env  jobs.Env
	r    *runner

	mu      sync.Mutex
	log     bytes.Buffer
	failed  bool
	skipped bool
	msgs    []string
	done    chan struct{}
}

// Name is the test's full name: subtests are parent/child.
func (t *T) Name() string { return t.name }

// Context ends when the test times out or the run is stopped.
func (t *T) Context() context.Context { return t.ctx }

// Param returns one of the node's params from the deploy file.
func (t *T) Param(key string) string { return t.env.Params()[key] }

// Log records a line in the test's output, shown when it fails.
func (t *T) Log(args ...any) { t.logf("%s", fmt.Sprintln(args...)) }

// Logf records a formatted line in the test's output.
func (t *T) Logf(format string, args ...any) { t.logf(format, args...) }

func (t *T) logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := fmt.Sprintf(format, args...)
	t.log.WriteString(s)
	if !strings.HasSuffix(s, "\n") {
		t.log.WriteByte('\n')
	}
}

// Error marks the test failed with a message, and goes on.
func (t *T) Error(args ...any) { t.fail(strings.TrimSuffix(fmt.Sprintln(args...), "\n")) }

// Errorf marks the test failed with a formatted message, and goes on.
func (t *T) Errorf(format string, args ...any) { t.fail(fmt.Sprintf(format, args...)) }

// Fatal marks the test failed and ends it.
func (t *T) Fatal(args ...any) {
	t.Error(args...)
	runtime.Goexit()
}

// Fatalf marks the test failed with a formatted message and ends it.
func (t *T) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

// Skip ends the test as skipped, with a reason.
func (t *T) Skip(args ...any) {
	t.mu.Lock()
	t.skipped = true
	t.msgs = append(t.msgs, strings.TrimSuffix(fmt.Sprintln(args...), "\n"))
	t.mu.Unlock()
	runtime.Goexit()
}

// Skipf ends the test as skipped, with a formatted reason.
func (t *T) Skipf(format string, args ...any) { t.Skip(fmt.Sprintf(format, args...)) }

// Failed reports whether the test has failed.
func (t *T) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *T) fail(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
	t.msgs = append(t.msgs, msg)
}

// Run runs f as a subtest named t.Name()/name, reported on its own, and
// reports whether it passed. A failing subtest fails its parent.
func (t *T) Run(name string, f func(t *T)) bool {
	sub := t.r.run(t.ctx, t.name+"/"+name, 0, f, true)
	if sub.Action == ActionFail {
		t.fail(fmt.Sprintf("subtest %s failed", name))
	}
	return sub.Action != ActionFail
}

// Output is what a command on the node did.
type Output struct {
	Stdout string // as written, untrimmed
	Exit   int    // -1 when it did not exit by itself
	Err    error  // it could not be started, or was killed
}

// Exec runs a command on the node (argv, no shell), with its stderr in the
// test's log.
func (t *T) Exec(argv ...string) Output {
	return t.exec(jobs.Command{Argv: argv, Dir: t.env.Home()}, false)
}

// Shell runs a command line with sh -c.
func (t *T) Shell(line string) Output {
	return t.Exec("/bin/sh", "-c", line)
}

// Sudo runs a command as root through sudo, with the password conc was
// given; the password never reaches the command.
func (t *T) Sudo(argv ...string) Output {
	return t.exec(jobs.Command{Argv: argv, Dir: t.env.Home()}, true)
}

func (t *T) exec(c jobs.Command, sudo bool) Output {
	var stdout bytes.Buffer
	c.Stdout = &stdout
	c.Stderr = writerFunc(func(p []byte) (int, error) {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.log.Write(p)
	})
	if sudo {
		res := jobs.Sudo(t.ctx, t.env, c)
		out := Output{Stdout: stdout.String(), Exit: res.ExitCode}
		if res.Status != jobs.OK && res.ExitCode <= 0 {
			out.Err = fmt.Errorf("%s", res.Message)
		}
		return out
	}
	code, err := t.env.Exec(t.ctx, c)
	return Output{Stdout: stdout.String(), Exit: code, Err: err}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ io.Writer = writerFunc(nil)

// Func is a node test written in Go.
type Func func(t *T)

var registry = struct {
	sync.Mutex
	tests map[string]Func
}{tests: map[string]Func{}}

// Register adds a Go test run on every node whose tests run, after the
// deploy file's. A program that embeds conc's agent registers its own in
// init. Register panics on a duplicate name, a programming error.
func Register(name string, f Func) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.tests[name]; dup {
		panic("nodetest: test registered twice: " + name)
	}
	registry.tests[name] = f
}

// registered returns the Go tests sorted by name.
func registered() []string {
	registry.Lock()
	defer registry.Unlock()
	names := make([]string, 0, len(registry.tests))
	for n := range registry.tests {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookup(name string) Func {
	registry.Lock()
	defer registry.Unlock()
	return registry.tests[name]
}
