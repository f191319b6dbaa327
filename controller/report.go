package controller

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/jobs"
	"github.com/rs/zerolog"
)

// Field names of the job events, in the console and the JSON log.
const (
	fieldStatus = "status"
	fieldHost   = "host"
	fieldNode   = "node"
	fieldStep   = "step"
	fieldOp     = "op"
	fieldDur    = "dur"
	fieldOutput = "output"
	fieldDeploy = "deploy_id"
)

// Reporter prints one line per job through zerolog's console writer, and
// the same events as JSON lines to the log file. Formatting and writing
// happen on a goroutine of its own, so that a job's line costs the work loop
// no more than encoding one event; everything printed goes through one
// queue and keeps its order.
type Reporter struct {
	log     zerolog.Logger // job events: console and log file
	q       *queue
	verbose bool
}

// NewReporter writes human output to out and, if not nil, JSON lines to
// logFile. color turns on ANSI colours.
func NewReporter(out io.Writer, logFile io.Writer, verbose, color bool) *Reporter {
	q := newQueue(out, consoleWriter(out, color))
	var w io.Writer = &eventWriter{q: q}
	if logFile != nil {
		w = zerolog.MultiLevelWriter(w, logFile)
	}
	return &Reporter{log: zerolog.New(w).With().Timestamp().Logger(), q: q, verbose: verbose}
}

// Logger returns the event logger, for other events worth a line.
func (r *Reporter) Logger() zerolog.Logger { return r.log }

// Job reports a job's end.
func (r *Reporter) Job(node string, host jobs.Host, step, steps int, op string, res jobs.Result, d time.Duration) {
	hostName := node
	if host == jobs.Local {
		hostName = "localhost"
	}
	ev := r.log.WithLevel(levelOf(res.Status)).
		Str(fieldStatus, string(res.Status)).
		Str(fieldHost, hostName).
		Str(fieldNode, node).
		Str(fieldStep, fmt.Sprintf("%d/%d", step, steps)).
		Str(fieldOp, op).
		Dur(fieldDur, d)
	showOutput := len(res.Output) > 0 && (res.Status != jobs.OK || r.verbose)
	if showOutput {
		ev = ev.Bytes(fieldOutput, res.Output)
	}
	ev.Msg(res.Message)
	if showOutput {
		r.q.raw(indent(res.Output))
	}
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

func consoleWriter(out io.Writer, color bool) zerolog.ConsoleWriter {
	w := zerolog.ConsoleWriter{
		Out: out, NoColor: !color, TimeFormat: "15:04:05",
		PartsOrder:    []string{zerolog.TimestampFieldName, fieldStatus, fieldHost, fieldStep, fieldOp, fieldDur, zerolog.MessageFieldName},
		FieldsExclude: []string{fieldStatus, fieldHost, fieldNode, fieldStep, fieldOp, fieldDur, fieldOutput, fieldDeploy},
	}
	w.FormatPartValueByName = func(v any, name string) string {
		s := fmt.Sprint(v)
		if v == nil {
			s = ""
		}
		switch name {
		case fieldStatus:
			return colorStatus(fmt.Sprintf("%-9s", s), s, color)
		case fieldHost:
			return fmt.Sprintf("%-12s", s)
		case fieldStep:
			return fmt.Sprintf("%6s", s)
		case fieldOp:
			return fmt.Sprintf("%-14s", s)
		case fieldDur:
			return fmt.Sprintf("%8s", formatMillis(s))
		}
		return s
	}
	return w
}

// formatMillis renders zerolog's duration field (milliseconds) for people.
func formatMillis(s string) string {
	var ms float64
	if _, err := fmt.Sscan(s, &ms); err != nil {
		return s
	}
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func colorStatus(padded, status string, color bool) string {
	if !color {
		return padded
	}
	code := map[string]string{
		"OK": "32", "BLOCKED": "33", "STOPPED": "33", "SKIPPED": "36", "FAILED": "31", "ERROR": "31", "TIMED OUT": "31",
	}[status]
	if code == "" {
		return padded
	}
	return "\x1b[" + code + "m" + padded + "\x1b[0m"
}

// eventWriter queues zerolog's JSON events for the console writer.
type eventWriter struct{ q *queue }

func (w *eventWriter) Write(p []byte) (int, error) {
	w.q.event(p)
	return len(p), nil
}

// queue writes items in order on its own goroutine: events through the
// console writer, raw text as it is. It never drops an item; a full queue
// makes the sender wait.
type queue struct {
	items   chan item
	done    chan struct{}
	out     io.Writer
	console zerolog.ConsoleWriter
	once    sync.Once
}

type item struct {
	event bool
	data  []byte
}

func newQueue(out io.Writer, console zerolog.ConsoleWriter) *queue {
	q := &queue{items: make(chan item, 1024), done: make(chan struct{}), out: out, console: console}
	go q.loop()
	return q
}

func (q *queue) loop() {
	defer close(q.done)
	for it := range q.items {
		if it.event {
			q.console.Write(it.data)
		} else {
			q.out.Write(it.data)
		}
	}
}

func (q *queue) event(p []byte) { q.items <- item{event: true, data: bytes.Clone(p)} }

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
