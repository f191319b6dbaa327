package deploy

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/jobs"
)

// Field names of the job events in the JSON log.
const (
	fieldStatus = "status"
	fieldHost   = "host"
	fieldNode   = "node"
	fieldStep   = "step"
	fieldSteps  = "steps"
	fieldOp     = "op"
	fieldDur    = "dur"
	fieldOutput = "output"
)

// Reporter prints one line per job for people, and the same events as
// JSON lines, through zerolog, to the log file when there is one.
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
}

// NewReporter writes human output to out and, if not nil, JSON lines to
// logFile. color turns on ANSI colours.
func NewReporter(out io.Writer, logFile io.Writer, verbose, color bool) *Reporter {
	r := &Reporter{q: newQueue(out, color), verbose: verbose}
	if logFile != nil {
		l := zerolog.New(logFile).With().Timestamp().Logger()
		r.log = &l
	}
	return r
}

// Job reports a job's end.
func (r *Reporter) Job(node string, host jobs.Host, step, steps int, op string, res jobs.Result, d time.Duration) {
	hostName := node
	if host == jobs.Local {
		hostName = "localhost"
	}
	if r.log != nil {
		ev := r.log.WithLevel(levelOf(res.Status)).Str(fieldStatus, string(res.Status)).
			Str(fieldHost, hostName).Str(fieldNode, node).Int(fieldStep, step).Int(fieldSteps, steps).
			Str(fieldOp, op).Dur(fieldDur, d)
		if len(res.Output) > 0 && (res.Status != jobs.OK || r.verbose) {
			ev = ev.Bytes(fieldOutput, res.Output)
		}
		ev.Msg(res.Message)
	}
	it := item{line: &jobLine{when: time.Now(), status: res.Status, host: hostName, step: step, steps: steps, op: op, dur: d, msg: res.Message}}
	// With -v the output was shown as it came; else a job that is not OK
	// shows its tail under its line.
	if len(res.Output) > 0 && res.Status != jobs.OK && !r.verbose {
		it.data = indent(res.Output)
	}
	r.q.items <- it
}

// Flush returns once everything queued so far is written: before a
// question, so that the answer is given with the lines before it in view.
func (r *Reporter) Flush() {
	done := make(chan struct{})
	r.q.items <- item{flushed: done}
	<-done
}

// Printf prints a line of text in order with the job lines, not to the log.
func (r *Reporter) Printf(format string, args ...any) {
	r.q.raw([]byte(fmt.Sprintf(format, args...)))
}

// Stream prints a running job's output, for -v.
func (r *Reporter) Stream(data []byte) { r.q.raw(indent(data)) }

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

// indent prefixes each line of a job's output so it reads as belonging to
// the job line above it.
func indent(b []byte) []byte {
	b = bytes.TrimRight(b, "\n")
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		out.WriteString("    | ")
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// jobLine is a job's line, formatted on the queue's goroutine.
type jobLine struct {
	when   time.Time
	status jobs.Status
	host   string
	step   int
	steps  int
	op     string
	dur    time.Duration
	msg    string
}

// format renders "15:04:05 STATUS    host         step/N op    dur  message".
func (l *jobLine) format(b *bytes.Buffer, color bool) {
	b.WriteString(l.when.Format("15:04:05 "))
	status := fmt.Sprintf("%-9s", l.status)
	if code := statusColor[l.status]; color && code != "" {
		status = "\x1b[" + code + "m" + status + "\x1b[0m"
	}
	fmt.Fprintf(b, "%s %-12s %6s %-14s %8s", status, l.host, fmt.Sprintf("%d/%d", l.step, l.steps), l.op, formatDuration(l.dur))
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

// queue writes items in order on its own goroutine. It never drops an
// item; a full queue makes the sender wait.
type queue struct {
	items chan item
	done  chan struct{}
	out   io.Writer
	color bool
	once  sync.Once
}

// item is a job line, raw text, or both: the line, then the text. An item
// with flushed set is a marker, closed once what came before it is written.
type item struct {
	line    *jobLine
	data    []byte
	flushed chan struct{}
}

func newQueue(out io.Writer, color bool) *queue {
	q := &queue{items: make(chan item, 4096), done: make(chan struct{}), out: out, color: color}
	go q.loop()
	return q
}

// burstPause is how long the queue rests after writing a burst. A fast
// plan then wakes the printing goroutine at most a few hundred times a
// second, not once a job, and lines still show at once when jobs are slow.
const burstPause = 5 * time.Millisecond

func (q *queue) loop() {
	defer close(q.done)
	var b bytes.Buffer
	for it := range q.items {
		b.Reset()
		var flushed []chan struct{}
		add := func(it item) {
			if it.line != nil {
				it.line.format(&b, q.color)
			}
			b.Write(it.data)
			if it.flushed != nil {
				flushed = append(flushed, it.flushed)
			}
		}
		add(it)
		// Write what else is queued in the same write: a fast plan's
		// lines cost one write per burst, not per job.
		for more := true; more && b.Len() < 64<<10; {
			select {
			case next, ok := <-q.items:
				if ok {
					add(next)
				} else {
					more = false
				}
			default:
				more = false
			}
		}
		q.out.Write(b.Bytes())
		for _, f := range flushed {
			close(f)
		}
		if len(flushed) == 0 && len(q.items) == 0 {
			time.Sleep(burstPause)
		}
	}
}

func (q *queue) raw(p []byte) {
	if !bytes.HasSuffix(p, []byte("\n")) {
		p = append(p, '\n')
	}
	q.items <- item{data: p}
}

func (q *queue) close() {
	q.once.Do(func() { close(q.items) })
	<-q.done
}
