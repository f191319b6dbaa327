package runreport

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concdeploy/conc/jobs"
)

// fakeTerm is a tiny terminal: lines, a cursor row; it understands \n, \r,
// ESC[nA (up), ESC[J (clear to end), and ignores SGR.
type fakeTerm struct {
	mu    sync.Mutex
	lines []string
	row   int
	width int // 0: no wrap
}

func (t *fakeTerm) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(p)
	for len(s) > 0 {
		for len(t.lines) <= t.row {
			t.lines = append(t.lines, "")
		}
		switch {
		case strings.HasPrefix(s, "\x1b["):
			end := strings.IndexAny(s[2:], "ABCDJKm") + 2
			arg, cmd := s[2:end], s[end]
			switch cmd {
			case 'A':
				n, _ := strconv.Atoi(arg)
				t.row -= n
			case 'J':
				t.lines = t.lines[:t.row+1]
				t.lines[t.row] = ""
			}
			s = s[end+1:]
		case s[0] == '\r':
			s = s[1:]
		case s[0] == '\n':
			t.row++
			s = s[1:]
		default:
			if t.width > 0 && len(t.lines[t.row]) == t.width {
				t.row++
				for len(t.lines) <= t.row {
					t.lines = append(t.lines, "")
				}
			}
			t.lines[t.row] += s[:1]
			s = s[1:]
		}
	}
	return len(p), nil
}

func (t *fakeTerm) screen() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// With --json and 2>&1 (one CI log), a stop message queued after a job's
// job_end is written after it.
func TestJSONStderrInOrder(t *testing.T) {
	var both bytes.Buffer
	r := NewReporterWith(ReporterConfig{Out: &both, Err: &both, JSON: true})
	r.Start(RunStart{Plan: "deploy", Nodes: []string{"web1"}})
	r.Job("web1", jobs.Local, 1, 5, "put", nil, jobs.Result{Status: jobs.Failed, Message: "no file"}, time.Second)
	r.Printf("web1: FAILED at step 1/5; continue: conc deploy web1 --resume")
	r.Close()
	if strings.Index(both.String(), "continue:") < strings.Index(both.String(), `"job_end"`) {
		t.Errorf("the stop message came before the job_end event queued before it")
	}
}

// A live line is cut to the terminal's width: a line that wrapped would
// take two rows, erase would move up one, and half of it would stay.
func TestLiveBlockFitsTheTerminal(t *testing.T) {
	tty := &fakeTerm{width: 80}
	long := "api-gateway-production-eu-central-1a-01"
	r := NewReporterWith(ReporterConfig{Out: tty, Color: true})
	r.q.width = tty.width // what term.GetSize says of a real one
	r.Start(RunStart{Plan: "deploy", Nodes: []string{long, "web2"}, Live: true, Grouped: true})
	r.JobStart(long, jobs.Local, 2, 5, "copy_product")
	r.JobStart("web2", jobs.Remote, 1, 5, "open_bundle")
	r.Flush()
	r.Job("web2", jobs.Remote, 1, 5, "open_bundle", nil, jobs.Result{Status: jobs.OK}, time.Second)
	r.Flush()
	r.Job(long, jobs.Local, 2, 5, "copy_product", nil, jobs.Result{Status: jobs.OK}, time.Second)
	r.NodeEnd(long, Outcome{})
	r.NodeEnd("web2", Outcome{})
	r.Recap(nil, "", 0)
	r.Close()
	s := tty.screen()
	if strings.Contains(s, "running") {
		t.Errorf("stale live lines remain after the run")
	}
}
