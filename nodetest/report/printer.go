package report

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/concdeploy/conc/nodetest"
)

// Printer prints conc test's results as they come, from the goroutines of
// several nodes, one line at a time: as go test -v does, or as JSON lines
// with JSON. Errors of a node go to Err with JSON, so stdout stays JSON.
type Printer struct {
	Out, Err io.Writer
	JSON     bool

	mu sync.Mutex
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
	case !p.JSON:
		p.Line(nodetest.FormatEvent(node, e))
	case e.Action != nodetest.ActionRun:
		p.Line(string(JSONLine(node, e)))
	}
}

// Done prints a node's summary, or the error that kept its tests from
// running.
func (p *Printer) Done(node string, sum nodetest.Summary, err error) {
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
