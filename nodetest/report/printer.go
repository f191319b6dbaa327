package report

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/concdeploy/conc/nodetest"
)

// Printer prints conc test's results as they come, from the goroutines of
// several nodes: as go test -v does, or as JSON lines with JSON. Errors of a
// node go to Err with JSON, so stdout stays JSON.
//
// With Grouped, as when several nodes are tested at once, a test's lines
// (its start, its subtests and its end) are held back until it ends and
// printed together, so that one node's test is never split by another's.
// Alone, a node's start lines print at once, so that a test that hangs is
// named while it hangs.
type Printer struct {
	Out, Err io.Writer
	JSON     bool
	Grouped  bool

	mu   sync.Mutex
	held map[string]string // by node: the lines of its test in progress
}

// Line prints one or more whole lines.
func (p *Printer) Line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.Out, s)
}

// Event prints a test starting or ending.
func (p *Printer) Event(node string, e nodetest.Event) {
	switch {
	case !p.JSON && p.Grouped:
		p.hold(node, nodetest.FormatEvent(node, e), e.Action != nodetest.ActionRun && !e.Sub)
	case !p.JSON:
		p.Line(nodetest.FormatEvent(node, e))
	case e.Action != nodetest.ActionRun:
		p.Line(string(JSONLine(node, e)))
	}
}

// hold adds lines to node's test in progress, and prints them all if that
// test has ended.
func (p *Printer) hold(node, lines string, ended bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = map[string]string{}
	}
	lines = p.held[node] + lines
	if !ended {
		p.held[node] = lines
		return
	}
	delete(p.held, node)
	fmt.Fprint(p.Out, lines)
}

// Done prints a node's summary, or the error that kept its tests from
// running.
func (p *Printer) Done(node string, sum nodetest.Summary, err error) {
	p.hold(node, "", true) // what a node cut short had begun
	switch {
	case p.JSON && err != nil:
		p.mu.Lock()
		defer p.mu.Unlock()
		fmt.Fprintf(p.Err, "conc: %s: %v\n", node, err)
	case p.JSON:
	case err != nil:
		p.Line(fmt.Sprintf("%s: ERROR: %v\n", node, err))
	default:
		p.Line(fmt.Sprintf("%s: %s\n", node, sum))
	}
}

// WriteJUnitFile writes the collected results as JUnit XML to path.
func (c *Collector) WriteJUnitFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write the JUnit report: %w", err)
	}
	if err := c.WriteJUnit(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
