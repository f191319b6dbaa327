package channel

import (
	"fmt"
	"time"
)

// Version is the protocol version. Both ends refuse a peer that speaks
// another one; bump it on any change a peer cannot ignore.
const Version = 4

// PreludeFD is the descriptor on which the boot script hands an agent
// started with --prelude the frames it carries. Not 3: where the shell
// could not open it, the Go runtime has taken the lowest free descriptors
// for itself before the agent's main runs.
const PreludeFD = 9

// PreludeLost is the line an agent started with --prelude writes on its
// stdout, before any frame, when the boot script's here-document did not
// reach it whole (a shell that writes here-documents to a temporary file
// finds no room for it): the controller then sends the hello on stdin.
const PreludeLost = "conc-boot prelude lost"

// Type names a message's kind on the wire.
type Type string

// The message types, in the order a session uses them.
const (
	THello  Type = "hello"  // controller → agent: first message
	TReady  Type = "ready"  // agent → controller: answer to hello
	TRun    Type = "run"    // controller → agent: run one job
	TCancel Type = "cancel" // controller → agent: stop the running job
	TOutput Type = "output" // agent → controller: a chunk of a job's output
	TResult Type = "result" // agent → controller: a job has ended
	TFence  Type = "fence"  // controller → agent: is the bundle still this run's?
	TStore  Type = "store"  // controller → agent: a request to the node's store of bundle files
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
	Result *Result `msgpack:"result,omitempty"`
	Fence  *Fence  `msgpack:"fence,omitempty"`
	Store  *Store  `msgpack:"store,omitempty"`
	Bye    *Bye    `msgpack:"bye,omitempty"`
}

// Lock modes a hello asks for.
const (
	// LockOpen creates the bundle, which fails if it exists: remote open_bundle.
	LockOpen = "open"
	// LockAttach joins a bundle that this deploy created earlier, when no
	// live agent serves it and its record is still the one in Expect:
	// resuming.
	LockAttach = "attach"
	// LockInspect reads the bundle's record and whether a live agent
	// holds it, and changes nothing: conc status, and a resume deciding.
	LockInspect = "inspect"
	// LockUnlock removes the bundle when its record is still the one in
	// Expect and no live agent holds it, or, with Force, after stopping the
	// agent that does: conc unlock.
	LockUnlock = "unlock"
	// LockNone touches no bundle: node tests, which are read-only.
	LockNone = "none"
)

// Hello opens a session. It is the only message that carries the sudo
// password, and nothing may log it.
type Hello struct {
	Version  int               `msgpack:"version"`
	Node     string            `msgpack:"node"`
	Params   map[string]string `msgpack:"params,omitempty"`
	Bundle   string            `msgpack:"bundle"` // relative to the home directory
	LockMode string            `msgpack:"lock_mode"`
	Lock     *Record           `msgpack:"lock,omitempty"`   // the record to write; for unlock, who unlocks
	Expect   *Expect           `msgpack:"expect,omitempty"` // attach and unlock: the record the controller decided on
	Force    bool              `msgpack:"force,omitempty"`  // unlock: stop a live holder first
	Verbose  bool              `msgpack:"verbose,omitempty"`
	Sudo     []byte            `msgpack:"sudo,omitempty"`
}

// Expect names the lock record a controller read and decided on. Attach
// and unlock go ahead only while the bundle's record still carries both
// fields: a record that changed since means the lock changed hands, and
// the decision no longer holds. Both empty match a bundle without a record.
type Expect struct {
	DeployID string `msgpack:"deploy_id"`
	Session  string `msgpack:"session"`
}

// Ready answers a hello. Status is OK, or BLOCKED with Lock naming the holder,
// or ERROR. Locked, Live and Lock describe the bundle as the agent found it
// under the kernel lock (inspect: without taking it).
type Ready struct {
	Version int     `msgpack:"version"`
	Agent   string  `msgpack:"agent"` // the agent's sha256, hex
	Arch    string  `msgpack:"arch"`
	Home    string  `msgpack:"home"`
	PID     int     `msgpack:"pid"`
	Status  string  `msgpack:"status"`
	Message string  `msgpack:"message,omitempty"`
	Locked  bool    `msgpack:"locked,omitempty"` // the bundle exists
	Live    bool    `msgpack:"live,omitempty"`   // an agent other than this one holds it
	Lock    *Record `msgpack:"lock,omitempty"`   // its record, with the journal
	// Running is the job a live holder has run for more than a second.
	Running *Running `msgpack:"running,omitempty"`
}

// Running is a job that has run for a while, as conc status shows it.
type Running struct {
	Step  int       `msgpack:"step"`
	Op    string    `msgpack:"op"`
	Since time.Time `msgpack:"since"`
}

// Run asks the agent to run one job. Journal carries the entries of jobs the
// controller ran itself since its last message, for the lock record.
type Run struct {
	ID      uint32   `msgpack:"id"`
	Step    int      `msgpack:"step"`
	Seq     int64    `msgpack:"seq,omitempty"` // the job's place in the run, for the journal
	Op      string   `msgpack:"op"`
	Args    []string `msgpack:"args,omitempty"`
	Timeout int64    `msgpack:"timeout,omitempty"` // nanoseconds; 0 means none
	Input   []byte   `msgpack:"input,omitempty"`   // op input from the controller, e.g. node test definitions
	Journal []Entry  `msgpack:"journal,omitempty"`
	// Chain is the ID of the first job of a run-ahead group, 0 for a job
	// sent alone. The controller sends a group's jobs without waiting;
	// the agent runs them in order, each once the one before it ended
	// OK, and answers every one: a job it never started (one before it
	// was not OK, or a cancel dropped it) gets a Dropped result.
	Chain uint32 `msgpack:"chain,omitempty"`
}

// Cancel stops the job with this ID; it then ends STOPPED. With Chain, it
// stops that group's job running now if its ID is this one or later, and
// no job of the group from ID on starts. With Drop, the running job is
// left to end as it would: only the jobs not yet started are dropped.
type Cancel struct {
	ID    uint32 `msgpack:"id"`
	Chain uint32 `msgpack:"chain,omitempty"`
	Drop  bool   `msgpack:"drop,omitempty"`
}

// Fence asks the agent whether the bundle at the bundle's path is still the
// one it holds. The controller sends it before a local job that writes into
// the node's bundle by path (over SFTP or sshfs); the agent answers with a
// result of the same ID, OK or ERROR, that is not journaled.
type Fence struct {
	ID uint32 `msgpack:"id"`
}

// What a store request asks of the node's store of bundle files.
const (
	// StorePlace puts each file into the bundle from the store, when the
	// store holds its content (checked by hash), unless the bundle has it
	// already; the answer's Placed says which.
	StorePlace = "place"
	// StoreKeep keeps the store to Limit after a copy, removing the
	// least recently used content past it.
	StoreKeep = "keep"
	// StoreShow says what the store holds; with Files, only which of
	// them it has a blob of, in Placed (StoreLinked, by name and size:
	// unchecked and unused, for a preview). StorePrune empties it.
	StoreShow  = "show"
	StorePrune = "prune"
	// StoreWrite carries a chunk of a file the store lacked, Data at
	// Offset; the file is checked against its hash once whole, renamed
	// into place in the bundle and added to the store.
	StoreWrite = "write"
)

// MaxStoreChunk is the most bytes one write carries.
const MaxStoreChunk = 1 << 20

// MaxStoreFiles is the most files one store request names: a copy of more
// sends several, each far inside a frame's limits.
const MaxStoreFiles = 2048

// Store is a request to the node's content-addressed store of the files
// put and copy_product deliver. The agent answers with a result of the
// same ID, not journaled, whose Store says what it did.
type Store struct {
	ID    uint32      `msgpack:"id"`
	Do    string      `msgpack:"do"`
	Files []StoreFile `msgpack:"files,omitempty"`
	Limit int64       `msgpack:"limit,omitempty"` // bytes the store may hold after a keep
	// Dirs are made in the bundle, in order, before a place: each missing
	// part of a path gets the mode; a directory there keeps its own.
	Dirs []StoreDir `msgpack:"dirs,omitempty"`
	// Offset and Data are a write's chunk of Files[0].
	Offset int64  `msgpack:"offset,omitempty"`
	Data   []byte `msgpack:"data,omitempty"`
}

// StoreDir is a directory of the bundle a copy needs.
type StoreDir struct {
	Path string `msgpack:"path"`
	Mode uint32 `msgpack:"mode"`
}

// StoreFile is a file of the bundle by its content.
type StoreFile struct {
	SHA256 string    `msgpack:"sha256"` // hex
	Size   int64     `msgpack:"size"`
	Path   string    `msgpack:"path"` // inside the bundle
	Mode   uint32    `msgpack:"mode"` // permission bits
	MTime  time.Time `msgpack:"mtime"`
}

// StoreAnswer is what the agent did for a store request.
type StoreAnswer struct {
	// Placed holds a state for each of the request's files, for place:
	// StoreHad (the bundle has it already), StoreLinked (from the store),
	// or StoreMissing (to be sent).
	Placed  []int8    `msgpack:"placed,omitempty"`
	Dir     string    `msgpack:"dir,omitempty"` // the store, absolute
	Blobs   int64     `msgpack:"blobs"`         // files it holds, after the request
	Bytes   int64     `msgpack:"bytes"`
	Evicted int64     `msgpack:"evicted,omitempty"` // files removed by this request
	Corrupt int64     `msgpack:"corrupt,omitempty"` // files whose content did not match their name, removed
	Oldest  time.Time `msgpack:"oldest,omitempty"`  // the least recent use, for show
	// Free is the space left where the bundle is, for place; absent when
	// the node cannot say.
	Free *int64 `msgpack:"free,omitempty"`
}

// A file's state in a place answer.
const (
	StoreMissing int8 = iota
	StoreHad
	StoreLinked
)

// Output streams: a job's commands' output, stdout and stderr as one
// stream in the order they came, and events, which carry an op's
// structured progress (node test results). 2 is not used.
const (
	Stdout = 1
	Event  = 3
)

// Output is a chunk of a running job's output.
type Output struct {
	ID     uint32 `msgpack:"id"`
	Stream int    `msgpack:"stream"`
	Data   []byte `msgpack:"data"`
}

// Result ends a job.
type Result struct {
	ID       uint32 `msgpack:"id"`
	Status   string `msgpack:"status"`
	Message  string `msgpack:"message,omitempty"`
	ExitCode int    `msgpack:"exit_code"`
	Output   []byte `msgpack:"output,omitempty"` // the tail of the job's output
	Duration int64  `msgpack:"duration"`         // nanoseconds, measured by the agent
	// Lost says the agent found the bundle at its path is not the one it
	// holds any more: the run has lost the node's lock and must stop.
	Lost bool `msgpack:"lost,omitempty"`
	// Dropped says the job of a run-ahead group never started; Status is
	// empty.
	Dropped bool `msgpack:"dropped,omitempty"`
	// Store answers a store request.
	Store *StoreAnswer `msgpack:"store,omitempty"`
}

// Bye ends a session. From the controller it carries the last journal
// entries; the agent answers with an empty bye once the lock record is
// written, then exits.
//
// An agent that is stopped (a signal, or conc unlock --force) sends a bye
// of its own, unasked, with the Reason, and Lost when the run has lost the
// node's lock, then exits.
type Bye struct {
	Journal  []Entry `msgpack:"journal,omitempty"`
	Reason   string  `msgpack:"reason,omitempty"`
	Lost     bool    `msgpack:"lost,omitempty"`
	MaxRSSKB int64   `msgpack:"max_rss_kb,omitempty"` // the agent's peak memory, in its bye
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
	case TResult:
		ok = m.Result != nil
	case TFence:
		ok = m.Fence != nil
	case TStore:
		ok = m.Store != nil
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

// Record is a lock record as the channel carries it. It is the channel's
// own type: the lock file's (bundle.Lock) is converted to and from it at
// the edges, so a change on disk never changes the protocol by accident.
type Record struct {
	DeployID string            `msgpack:"deploy_id"`
	Holder   string            `msgpack:"holder"`
	PID      int               `msgpack:"pid"`
	Node     string            `msgpack:"node"`
	Plan     string            `msgpack:"plan"`
	PlanHash string            `msgpack:"plan_hash"`
	Steps    int               `msgpack:"steps"`
	Started  time.Time         `msgpack:"started"`
	Params   map[string]string `msgpack:"params,omitempty"` // the run's -p values
	AgentPID int               `msgpack:"agent_pid,omitempty"`
	Session  string            `msgpack:"session,omitempty"`
	Attached time.Time         `msgpack:"attached,omitempty"`
	Detached time.Time         `msgpack:"detached,omitempty"`
	Journal  []Entry           `msgpack:"journal,omitempty"`
}

// Entry is a journal entry as the channel carries it.
type Entry struct {
	Step     int       `msgpack:"step"`
	Seq      int64     `msgpack:"seq,omitempty"`
	Host     string    `msgpack:"host"`
	Op       string    `msgpack:"op"`
	Status   string    `msgpack:"status"`
	Message  string    `msgpack:"message,omitempty"`
	Change   string    `msgpack:"change,omitempty"`
	Duration int64     `msgpack:"duration"` // nanoseconds
	Ended    time.Time `msgpack:"ended"`
}
