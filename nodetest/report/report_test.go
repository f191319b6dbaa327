package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"testing"
	"time"

	"github.com/concdeploy/conc/nodetest"
)

func TestJUnitRoundTrip(t *testing.T) {
	var c Collector
	c.Add("node2", nodetest.Event{Action: nodetest.ActionPass, Test: "a", Duration: time.Second})
	c.Add("node1", nodetest.Event{Action: nodetest.ActionRun, Test: "b"})
	c.Add("node1", nodetest.Event{Action: nodetest.ActionFail, Test: "b", Message: "want 35\ngot 34", Output: "log"})
	c.Add("node1", nodetest.Event{Action: nodetest.ActionSkip, Test: "c", Message: "not here"})
	c.Node("node3")
	var buf bytes.Buffer
	if err := c.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if len(doc.Suites) != 3 || doc.Suites[0].Name != "node1" || doc.Suites[2].Name != "node3" {
		t.Fatalf("suites %+v", doc.Suites)
	}
	s := doc.Suites[0]
	if s.Tests != 2 || s.Failures != 1 || s.Skipped != 1 || s.Cases[0].Failure == nil || s.Cases[0].Failure.Message != "want 35" {
		t.Errorf("node1 suite %+v", s)
	}
	if doc.Suites[2].Tests != 0 {
		t.Errorf("node3 suite %+v, want empty", doc.Suites[2])
	}
}

func TestJSONLine(t *testing.T) {
	b := JSONLine("node1", nodetest.Event{Action: nodetest.ActionFail, Test: "port", Duration: 2 * time.Second, Message: "closed"})
	var r JSONResult
	if err := json.Unmarshal(b, &r); err != nil || r.Node != "node1" || r.Status != "fail" || r.Duration != 2 || b[len(b)-1] != '\n' {
		t.Errorf("%s -> %+v, %v", b, r, err)
	}
}

// TestGroupedKeepsATestTogether interleaves two nodes' events as their
// goroutines would and checks each test prints as one block.
func TestGroupedKeepsATestTogether(t *testing.T) {
	var out bytes.Buffer
	p := &Printer{Out: &out, Grouped: true}
	run := func(test string, sub bool) nodetest.Event {
		return nodetest.Event{Action: nodetest.ActionRun, Test: test, Sub: sub}
	}
	pass := func(test string, sub bool) nodetest.Event {
		return nodetest.Event{Action: nodetest.ActionPass, Test: test, Sub: sub}
	}
	p.Event("node1", run("a", false))
	p.Event("node2", run("b", false))
	p.Event("node1", run("a/x", true))
	p.Event("node2", pass("b", false))
	p.Event("node1", pass("a/x", true))
	p.Event("node1", pass("a", false))
	p.Done("node1", nodetest.Summary{Passed: 1}, nil)
	want := "=== RUN   node2/b\n--- PASS: node2/b (0.00s)\n" +
		"=== RUN   node1/a\n=== RUN   node1/a/x\n--- PASS: node1/a/x (0.00s)\n--- PASS: node1/a (0.00s)\n" +
		"node1: 1 passed, 0 failed, 0 skipped\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
