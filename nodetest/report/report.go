// Package report writes node test results for people and for CI servers:
// JUnit XML, one test suite per node, and JSON lines. It runs in the
// controller only, so the agent does not carry encoding/xml.
package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/concdeploy/conc/nodetest"
)

// Collector gathers results, from several nodes at once.
type Collector struct {
	mu    sync.Mutex
	nodes map[string][]nodetest.Event
	order []string
}

// Tests counts the tests that ended, subtests aside, on every node.
func (c *Collector) Tests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, evs := range c.nodes {
		for _, e := range evs {
			if !e.Sub {
				n++
			}
		}
	}
	return n
}

// Add records a test's end; start events are ignored.
func (c *Collector) Add(node string, e nodetest.Event) {
	if e.Action == nodetest.ActionRun {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes == nil {
		c.nodes = map[string][]nodetest.Event{}
	}
	if _, ok := c.nodes[node]; !ok {
		c.order = append(c.order, node)
	}
	c.nodes[node] = append(c.nodes[node], e)
}

// Node adds a node with no results yet, so that a node that ran nothing
// still has its (empty) suite.
func (c *Collector) Node(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes == nil {
		c.nodes = map[string][]nodetest.Event{}
	}
	if _, ok := c.nodes[node]; !ok {
		c.nodes[node] = nil
		c.order = append(c.order, node)
	}
}

// JUnit XML, as Jenkins, GitLab and GitHub's test reporters read it.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the results as JUnit XML, one testsuite per node, the
// nodes sorted by name.
func (c *Collector) WriteJUnit(w io.Writer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	nodes := append([]string(nil), c.order...)
	sort.Strings(nodes)
	var doc junitSuites
	for _, n := range nodes {
		s := junitSuite{Name: n}
		var total float64
		for _, e := range c.nodes[n] {
			tc := junitCase{Name: e.Test, Classname: n, Time: seconds(e.Duration.Seconds()), SystemOut: e.Output}
			switch e.Action {
			case nodetest.ActionFail:
				s.Failures++
				tc.Failure = &junitMessage{Message: firstLine(e.Message), Text: e.Message}
			case nodetest.ActionSkip:
				s.Skipped++
				tc.Skipped = &junitMessage{Message: e.Message}
			}
			s.Tests++
			total += e.Duration.Seconds()
			s.Cases = append(s.Cases, tc)
		}
		s.Time = seconds(total)
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(s float64) string { return fmt.Sprintf("%.3f", s) }

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

// JSONResult is a line of --json output: one test's result.
type JSONResult struct {
	Event    string  `json:"event"` // "test", as the events of conc deploy --json say what they are
	Node     string  `json:"node"`
	Test     string  `json:"test"`
	Status   string  `json:"status"` // pass, fail or skip
	Duration float64 `json:"duration"`
	Message  string  `json:"message,omitempty"`
	Output   string  `json:"output,omitempty"`
}

// JSONLine renders one result as a JSON line.
func JSONLine(node string, e nodetest.Event) []byte {
	b, _ := json.Marshal(JSONResult{Event: "test", Node: node, Test: e.Test, Status: e.Action, Duration: e.Duration.Seconds(), Message: e.Message, Output: e.Output})
	return append(b, '\n')
}
