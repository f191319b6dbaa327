package runreport

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/concdeploy/conc/jobs"
)

var recapOuts = []Outcome{
	{Node: "web1", Ran: true, Status: jobs.OK, Step: 5, Steps: 5, Op: "close_bundle", Duration: 1200 * time.Millisecond},
	{Node: "web2", Ran: true, Status: jobs.Failed, Step: 3, Steps: 5, Op: "run", Message: "exit status 1\nmore", Duration: time.Second, Resumable: true, At: true},
	{Node: "web3", Ran: true, Status: jobs.Stopped, Step: 2, Steps: 5, Op: "put", Message: "the rollout stopped", Duration: time.Second, Resumable: true},
	{Node: "web4", Steps: 5},
}

func TestRecapText(t *testing.T) {
	got := recapText(recapOuts, "the rollout stopped: 1 node(s) failed (web2), more than --max-fail 0", "conc deploy")
	for _, want := range []string{
		"RECAP\n",
		"  web1  OK       5/5 close_bundle  1.2s",
		"  web2  FAILED   3/5 run ",
		"  web4  NOT RUN  -",
		"  web2: FAILED at step 3/5 run: exit status 1\n",
		"  web3: STOPPED after step 2/5 put: the rollout stopped\n",
		"The rollout stopped: 1 node(s) failed (web2), more than --max-fail 0; the nodes NOT RUN were not touched.",
		"4 node(s): 1 OK, 1 STOPPED, 1 NOT RUN, 1 FAILED\n",
		"  continue: conc deploy web2 web3 --resume\n  the rest: conc deploy web4\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("recap lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "more\n") {
		t.Errorf("the recap shows more than a message's first line:\n%s", got)
	}
}

// TestJSONEvents: every event is one line of JSON with the documented
// field names, and the recap carries every node and the exit code.
func TestJSONEvents(t *testing.T) {
	var out, errOut bytes.Buffer
	r := NewReporterWith(ReporterConfig{Out: &out, Err: &errOut, JSON: true})
	r.Start(RunStart{Plan: "deploy", Nodes: []string{"web1", "web2"}})
	r.JobStart("web1", jobs.Local, 1, 5, "put")
	r.Job("web1", jobs.Local, 1, 5, "put", nil, jobs.Result{Status: jobs.Failed, Message: "no file", Output: []byte("tail\n")}, time.Second)
	r.Printf("web1: stopped at step 1/5")
	r.NodeEnd("web1", recapOuts[1])
	r.Recap(recapOuts, "", 1)
	r.Close()
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		events = append(events, e)
	}
	kinds := []string{}
	for _, e := range events {
		kinds = append(kinds, e["event"].(string))
	}
	if got := strings.Join(kinds, " "); got != "run job_start job_end node_end recap" {
		t.Fatalf("events %s", got)
	}
	end := events[2]
	if end["node"] != "web1" || end["host"] != "local" || end["status"] != "FAILED" || end["duration"] != 1.0 || end["output"] != "tail\n" || end["step"] != 1.0 {
		t.Errorf("job_end %v", end)
	}
	recap := events[4]
	if nodes := recap["nodes"].([]any); len(nodes) != len(recapOuts) || recap["exit"] != 1.0 ||
		nodes[3].(map[string]any)["status"] != "NOT RUN" {
		t.Errorf("recap %v", recap)
	}
	if !strings.Contains(errOut.String(), "stopped at step 1/5") {
		t.Errorf("with JSON, what is said to the operator goes to stderr: %q", errOut.String())
	}
}

func TestLiveBlock(t *testing.T) {
	var out bytes.Buffer
	r := NewReporterWith(ReporterConfig{Out: &out, Color: true})
	// Set before any item: the queue's goroutine reads it only then.
	var skew atomic.Int64
	r.q.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	r.Start(RunStart{Plan: "deploy", Nodes: []string{"web1", "web2"}, Grouped: true, Live: true})
	r.JobStart("web1", jobs.Remote, 2, 5, "untar")
	r.JobStart("web2", jobs.Local, 3, 5, "copy_product")
	r.ShowsBar("web2")
	r.Flush()
	if strings.Contains(out.String(), "running") {
		t.Fatalf("a job that has not run for a second is in the live block: %q", out.String())
	}
	skew.Store(int64(2 * time.Second))
	r.Printf("a line, which draws the block again under it")
	r.Flush()
	if !strings.Contains(out.String(), "running  web1 ") || !strings.Contains(out.String(), "2/5 untar") || !strings.Contains(out.String(), " 2s") {
		t.Fatalf("no live line for web1's job after two seconds: %q", out.String())
	}
	if strings.Contains(out.String(), "web2") {
		t.Errorf("the live block draws over web2's progress bar: %q", out.String())
	}
	out.Reset()
	r.Job("web1", jobs.Remote, 2, 5, "untar", nil, jobs.Result{Status: jobs.OK}, time.Second)
	r.NodeEnd("web1", Outcome{})
	r.Flush()
	// The block is erased (cursor up, clear) before the line prints.
	if got := out.String(); !strings.HasPrefix(got, "\x1b[1A\r\x1b[J") || !strings.Contains(got, "web1") {
		t.Errorf("the job line does not replace the live block: %q", got)
	}
	r.Recap(nil, "", 0)
	r.Close()
	if strings.Contains(out.String(), "running  web1 ") {
		t.Errorf("a finished node stays in the live block: %q", out.String())
	}
}

// TestJobLineSaysWhatRan: a job line without a message shows the step's
// arguments, cut to fit the terminal.
func TestJobLineSaysWhatRan(t *testing.T) {
	var out bytes.Buffer
	r := NewReporterWith(ReporterConfig{Out: &out})
	r.Job("web1", jobs.Remote, 3, 5, "run", []string{"tar", "-xzf", "app 1.tar.gz"}, jobs.Result{Status: jobs.OK}, time.Millisecond)
	r.Job("web1", jobs.Local, 4, 5, "put", []string{"dist/app.tar.gz"}, jobs.Result{Status: jobs.OK, Message: "1 file(s)"}, time.Millisecond)
	r.Flush()
	r.q.width = 100
	r.Job("web1", jobs.Remote, 5, 5, "run", []string{strings.Repeat("x", 200)}, jobs.Result{Status: jobs.OK}, time.Millisecond)
	r.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if !strings.HasSuffix(lines[0], " tar -xzf 'app 1.tar.gz'") || !strings.HasSuffix(lines[1], " 1 file(s)") {
		t.Errorf("lines:\n%s", out.String())
	}
	if n := len([]rune(lines[2])); n >= 100 || !strings.HasSuffix(lines[2], "…") {
		t.Errorf("a long command is not cut to the terminal's 100 columns (%d): %s", n, lines[2])
	}
}
