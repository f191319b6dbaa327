// Package runreport is what the operator sees of a run: one line per job,
// the job's output under it, a live block of running nodes on a terminal,
// the recap that ends a run over several nodes, and the same as JSON
// events for CI (docs/json.md).
package runreport

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/jobs"
	"golang.org/x/term"
	"os"
)

// Field names of the job events in the JSON log; deploy's diagnostics use
// the same.
const (
	fieldStatus = "status"
	FieldHost   = "host"
	FieldNode   = "node"
	FieldStep   = "step"
	fieldSteps  = "steps"
	FieldOp     = "op"
	fieldDur    = "dur"
	fieldOutput = "output"
	fieldChange = "change"
)

// Reporter prints one line per job for people, and the same events as
// JSON lines, through zerolog, to the log file when there is one. With
// JSON, stdout carries events (events.go) instead of lines, and what is
// said to the operator goes to stderr.
//
// The human lines are formatted here, not by zerolog's console writer:
// that writer parses every event back from JSON, which cost 25µs a job,
// a third of a remote job's whole round trip (docs/performance.md).
// Printing happens on a goroutine of its own, through one queue, so that
// everything printed keeps its order and a job costs the work loop no more
// than a channel send.
type Reporter struct {
	log     *zerolog.Logger // the JSON log file, or nil
	q       *queue
	verbose bool
	json    bool
	errOut  io.Writer // with JSON, for what is said to the operator

	width   int  // of the column that names where a job ran
	grouped bool // several nodes at once: -v output waits for its job's line
	command string
}

// ReporterConfig says where a Reporter writes and how.
type ReporterConfig struct {
	Out     io.Writer // job lines, or events with JSON
	Err     io.Writer // with JSON: stop messages and hints
	Log     io.Writer // JSON lines of the log file, or nil
	Verbose bool      // show jobs' output
	Color   bool      // Out is a terminal: colours, and the live block of running nodes
	JSON    bool      // events on Out instead of lines
}

// NewReporter writes human output to out and, if not nil, JSON lines to
// logFile. color turns on ANSI colours.
func NewReporter(out io.Writer, logFile io.Writer, verbose, color bool) *Reporter {
	return NewReporterWith(ReporterConfig{Out: out, Log: logFile, Verbose: verbose, Color: color})
}

// NewReporterWith is NewReporter with every choice.
func NewReporterWith(c ReporterConfig) *Reporter {
	r := &Reporter{q: newQueue(c.Out, c.Color && !c.JSON), verbose: c.Verbose, json: c.JSON, errOut: c.Err, width: 12}
	if f, ok := c.Out.(*os.File); ok {
		r.q.width, _, _ = term.GetSize(int(f.Fd())) // 0 when it is no terminal
	}
	if c.Log != nil {
		l := zerolog.New(c.Log).With().Timestamp().Logger()
		r.log = &l
	}
	return r
}

// RunStart describes a run about to start.
type RunStart struct {
	Plan  string
	Nodes []string
	// Command is how the operator ran it, up to the nodes ("conc -f
	// site.ini deploy"), for the recap's hints.
	Command string
	// Grouped says several nodes may run at once, so that each job's -v
	// output is held until its line.
	Grouped bool
	// Live asks for the block of running nodes on a terminal; not with
	// --step, whose questions it would overwrite.
	Live bool
}

// Start announces a run.
func (r *Reporter) Start(s RunStart) {
	r.grouped, r.command = s.Grouped, s.Command
	for _, n := range s.Nodes {
		r.width = max(r.width, len(hostLabel(n, jobs.Local)))
	}
	if r.json {
		r.event(runEvent{Event: evRun, Time: time.Now(), Plan: s.Plan, Nodes: s.Nodes})
	} else if s.Live {
		r.q.items <- item{live: &liveUpdate{on: true}}
	}
}

// JobStart reports that a job begins.
func (r *Reporter) JobStart(node string, host jobs.Host, step, steps int, op string) {
	now := time.Now()
	if r.json {
		r.event(jobEvent{Event: evJobStart, Time: now, Node: node, Host: string(host), Step: step, Steps: steps, Op: op})
		return
	}
	it := item{live: &liveUpdate{node: node, label: hostLabel(node, host), step: step, steps: steps, op: op, since: now}}
	if r.verbose && !r.grouped {
		// The output streamed next belongs under this line, not under the
		// line of the job before, which may be another node's.
		it.line = &jobLine{when: now, status: "RUNNING", host: hostLabel(node, host), width: r.width, step: step, steps: steps, op: op, start: true}
	}
	r.q.items <- it
}

// ShowsBar says that the node's running job draws a progress bar on the
// terminal, so the live block leaves it out.
func (r *Reporter) ShowsBar(node string) {
	if !r.json {
		r.q.items <- item{live: &liveUpdate{node: node, bar: true}}
	}
}

// hostLabel names where a job ran: the node, or the workstation for it.
func hostLabel(node string, host jobs.Host) string {
	if host == jobs.Local {
		return node + " (local)"
	}
	return node
}

// Job reports a job's end. args are the step's, shown on a line that has
// no message, so that it says what ran.
func (r *Reporter) Job(node string, host jobs.Host, step, steps int, op string, args []string, res jobs.Result, d time.Duration) {
	label := hostLabel(node, host)
	if r.log != nil {
		ev := r.log.WithLevel(levelOf(res.Status)).Str(fieldStatus, string(res.Status)).
			Str(FieldHost, string(host)).Str(FieldNode, node).Int(FieldStep, step).Int(fieldSteps, steps).
			Str(FieldOp, op).Dur(fieldDur, d)
		if res.Change != "" {
			ev = ev.Str(fieldChange, res.Change)
		}
		if len(res.Output) > 0 && (res.Status != jobs.OK || r.verbose) {
			ev = ev.Bytes(fieldOutput, res.Output)
		}
		ev.Msg(res.Message)
	}
	if r.json {
		e := jobEvent{Event: evJobEnd, Time: time.Now(), Node: node, Host: string(host), Step: step, Steps: steps, Op: op,
			Status: string(res.Status), Duration: d.Seconds(), Message: res.Message, Change: res.Change}
		if res.Status != jobs.OK || r.verbose {
			e.Output = string(res.Output)
		}
		r.event(e)
		return
	}
	msg := res.Message
	if msg == "" && len(args) > 0 {
		msg = r.clip(jobs.QuoteAll(args))
	}
	if res.Change != "" {
		msg = strings.TrimSpace(res.Change + " " + msg)
	}
	it := item{line: &jobLine{when: time.Now(), status: res.Status, host: label, width: r.width, step: step, steps: steps, op: op, dur: d, msg: msg},
		live: &liveUpdate{node: node, done: true}}
	// With -v the output was shown as it came, unless held for the line
	// (grouped); else a job that is not OK shows its tail under its line.
	if len(res.Output) > 0 && (res.Status != jobs.OK && !r.verbose || r.verbose && r.grouped) {
		it.data = indent(node, res.Output)
	}
	r.q.items <- it
}

// NodeEnd reports that a node's run ended.
func (r *Reporter) NodeEnd(node string, o Outcome) {
	if r.json {
		r.event(nodeEvent{Event: evNodeEnd, Time: time.Now(), outcomeJSON: outcomeOf(o)})
		return
	}
	r.q.items <- item{live: &liveUpdate{node: node, done: true}}
}

// Recap ends a run over several nodes with a table of how each ended;
// halted says why the rollout stopped, if it did.
func (r *Reporter) Recap(outs []Outcome, halted string, code int) {
	if r.json {
		r.event(recapEvent(outs, halted, code))
		return
	}
	r.q.items <- item{live: &liveUpdate{off: true}}
	if len(outs) > 1 {
		r.q.raw([]byte(recapText(outs, halted, r.command)))
	}
}

// Flush returns once everything queued so far is written: before a
// question, so that the answer is given with the lines before it in view.
func (r *Reporter) Flush() {
	done := make(chan struct{})
	r.q.items <- item{flushed: done}
	<-done
}

// Printf prints a line of text in order with the job lines, not to the
// log; with JSON, to stderr.
func (r *Reporter) Printf(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if r.json {
		if r.errOut != nil {
			r.q.items <- item{data: []byte(strings.TrimSuffix(text, "\n") + "\n"), to: r.errOut}
		}
		return
	}
	r.q.raw([]byte(text))
}

// Stream prints a running job's output, for -v, unless it is held for the
// job's line.
func (r *Reporter) Stream(node string, data []byte) {
	if !r.grouped && !r.json {
		r.q.raw(indent(node, data))
	}
}

// Close flushes everything queued.
func (r *Reporter) Close() { r.q.close() }

func levelOf(s jobs.Status) zerolog.Level {
	switch s {
	case jobs.OK:
		return zerolog.InfoLevel
	case jobs.Blocked, jobs.Stopped, bundle.Skipped:
		return zerolog.WarnLevel
	}
	return zerolog.ErrorLevel
}

// indent prefixes each line of a job's output with its node, so it reads
// as belonging to the node's job line above it.
func indent(node string, b []byte) []byte {
	b = bytes.TrimRight(b, "\n")
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		out.WriteString("    ")
		out.WriteString(node)
		out.WriteString(" | ")
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// The columns of a job line after its time; the host's is as wide as the
// run's longest label.
const (
	colTime   = len("15:04:05 ")
	colStatus = 9
	colStep   = 6
	colOp     = 14
	colDur    = 8
)

// lineLead is the width of a job line before its message, with the
// host column host wide.
func lineLead(host int) int {
	return colTime + colStatus + 1 + host + 1 + colStep + 1 + colOp + 1 + colDur + 1
}

// jobLine is a job's line, formatted on the queue's goroutine.
type jobLine struct {
	when   time.Time
	status jobs.Status
	host   string
	width  int
	step   int
	steps  int
	op     string
	dur    time.Duration
	msg    string
	start  bool // the job begins: no duration yet
}

// format renders "15:04:05 STATUS    host         step/N op    dur  message".
func (l *jobLine) format(b *bytes.Buffer, color bool) {
	b.WriteString(l.when.Format("15:04:05 "))
	status := fmt.Sprintf("%-*s", colStatus, l.status)
	if code := statusColor[l.status]; color && code != "" {
		status = "\x1b[" + code + "m" + status + "\x1b[0m"
	}
	if l.start {
		fmt.Fprintf(b, "%s %-*s %*s %s\n", status, l.width, l.host, colStep, fmt.Sprintf("%d/%d", l.step, l.steps), l.op)
		return
	}
	fmt.Fprintf(b, "%s %-*s %*s %-*s %*s", status, l.width, l.host, colStep, fmt.Sprintf("%d/%d", l.step, l.steps), colOp, l.op, colDur, formatDuration(l.dur))
	if l.msg != "" {
		b.WriteByte(' ')
		b.WriteString(l.msg)
	}
	b.WriteByte('\n')
}

var statusColor = map[jobs.Status]string{
	jobs.OK: "32", jobs.Blocked: "33", jobs.Stopped: "33", bundle.Skipped: "36",
	jobs.Failed: "31", jobs.Error: "31", jobs.TimedOut: "31",
}

// formatDuration rounds a job's duration for people.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// clip shortens what ran to what fits after a job line's columns on the
// terminal, or to a line's worth elsewhere.
func (r *Reporter) clip(s string) string {
	room := 72
	if r.q.width > 0 {
		room = max(r.q.width-lineLead(r.width)-1, 20)
	}
	if rs := []rune(s); len(rs) > room {
		return string(rs[:room-1]) + "…"
	}
	return s
}
