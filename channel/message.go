package channel

import (
	"fmt"

	"github.com/concdeploy/conc/bundle"
)

// Version is the protocol version. Both ends refuse a peer that speaks
// another one; bump it on any change a peer cannot ignore.
const Version = 1

// Type names a message's kind on the wire.
type Type string

// The message types, in the order a session uses them.
const (
	THello  Type = "hello"  // controller → agent: first message
	TReady  Type = "ready"  // agent → controller: answer to hello
	TRun    Type = "run"    // controller → agent: run one job
	TCancel Type = "cancel" // controller → agent: stop the running job
	TOutput Type = "output" // agent → controller: a chunk of a job's output
	TLog    Type = "log"    // agent → controller: a log line of the agent's
	TResult Type = "result" // agent → controller: a job has ended
	TBye    Type = "bye"    // either way: the session ends
)

// Message is one frame's payload: its type, and the body for that type.
// Exactly one body is set, the one the type names.
type Message struct {
	Type   Type    `msgpack:"t"`
	Hello  *Hello  `msgpack:"hello,omitempty"`
	Ready  *Ready  `msgpack:"ready,omitempty"`
	Run    *Run    `msgpack:"run,omitempty"`
	Cancel *Cancel `msgpack:"cancel,omitempty"`
	Output *Output `msgpack:"output,omitempty"`
	Log    *Log    `msgpack:"log,omitempty"`
	Result *Result `msgpack:"result,omitempty"`
	Bye    *Bye    `msgpack:"bye,omitempty"`
}

// Lock modes a hello asks for.
const (
	// LockOpen creates the bundle, which fails if it exists: remote open_bundle.
	LockOpen = "open"
	// LockAttach joins a bundle that this deploy created earlier: resuming.
	LockAttach = "attach"
	// LockNone touches no bundle: node tests, which are read-only.
	LockNone = "none"
)

// Hello opens a session. It is the only message that carries the sudo
// password, and nothing may log it.
type Hello struct {
	Version   int               `msgpack:"version"`
	Node      string            `msgpack:"node"`
	Params    map[string]string `msgpack:"params,omitempty"`
	Bundle    string            `msgpack:"bundle"` // relative to the home directory
	LockMode  string            `msgpack:"lock_mode"`
	Lock      *bundle.Lock      `msgpack:"lock,omitempty"` // the record to write, or to match when attaching
	Verbose   bool              `msgpack:"verbose,omitempty"`
	Sudo      []byte            `msgpack:"sudo,omitempty"`
	Heartbeat int64             `msgpack:"heartbeat,omitempty"` // interval in nanoseconds
}

// Ready answers a hello. Status is OK, or BLOCKED with Lock naming the holder,
// or ERROR.
type Ready struct {
	Version int          `msgpack:"version"`
	Agent   string       `msgpack:"agent"` // the agent's sha256, hex
	Arch    string       `msgpack:"arch"`
	Home    string       `msgpack:"home"`
	PID     int          `msgpack:"pid"`
	Status  string       `msgpack:"status"`
	Message string       `msgpack:"message,omitempty"`
	Lock    *bundle.Lock `msgpack:"lock,omitempty"`
}

// Run asks the agent to run one job. Journal carries the entries of jobs the
// controller ran itself since its last message, for the lock record.
type Run struct {
	ID      uint32         `msgpack:"id"`
	Step    int            `msgpack:"step"`
	Op      string         `msgpack:"op"`
	Args    []string       `msgpack:"args,omitempty"`
	Timeout int64          `msgpack:"timeout,omitempty"` // nanoseconds; 0 means none
	Input   []byte         `msgpack:"input,omitempty"`   // op input from the controller, e.g. node test definitions
	Journal []bundle.Entry `msgpack:"journal,omitempty"`
}

// Cancel stops the job with this ID; it then ends STOPPED.
type Cancel struct {
	ID uint32 `msgpack:"id"`
}

// Output streams: stdout and stderr of a job's commands, and events, which
// carry an op's structured progress (node test results).
const (
	Stdout = 1
	Stderr = 2
	Event  = 3
)

// Output is a chunk of a running job's output.
type Output struct {
	ID     uint32 `msgpack:"id"`
	Stream int    `msgpack:"stream"`
	Data   []byte `msgpack:"data"`
}

// Log is a line from the agent's own log, forwarded for -v and the log file.
type Log struct {
	Level   string `msgpack:"level"`
	Message string `msgpack:"message"`
}

// Result ends a job.
type Result struct {
	ID       uint32 `msgpack:"id"`
	Status   string `msgpack:"status"`
	Message  string `msgpack:"message,omitempty"`
	ExitCode int    `msgpack:"exit_code"`
	Output   []byte `msgpack:"output,omitempty"` // the tail of the job's output
	Duration int64  `msgpack:"duration"`         // nanoseconds, measured by the agent
}

// Bye ends a session. From the controller it carries the last journal
// entries; the agent answers with an empty bye once the lock record is
// written, then exits.
type Bye struct {
	Journal  []bundle.Entry `msgpack:"journal,omitempty"`
	Reason   string         `msgpack:"reason,omitempty"`
	MaxRSSKB int64          `msgpack:"max_rss_kb,omitempty"` // the agent's peak memory, in its bye
}

// check reports a message whose body does not match its type.
func (m *Message) check() error {
	var ok bool
	switch m.Type {
	case THello:
		ok = m.Hello != nil
	case TReady:
		ok = m.Ready != nil
	case TRun:
		ok = m.Run != nil
	case TCancel:
		ok = m.Cancel != nil
	case TOutput:
		ok = m.Output != nil
	case TLog:
		ok = m.Log != nil
	case TResult:
		ok = m.Result != nil
	case TBye:
		ok = m.Bye != nil
	default:
		return fmt.Errorf("%w %q", ErrUnknownType, m.Type)
	}
	if !ok {
		return fmt.Errorf("%w: %s message without its body", ErrMalformed, m.Type)
	}
	return nil
}
