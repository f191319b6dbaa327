package bundle

import (
	"encoding/json"
	"fmt"
	"time"
)

// Lock is the lock record kept in the bundle. It tells an operator, and the
// next deploy, who holds the node, what they are doing and how far they got.
// It is information, not the lock: the bundle's existence is the lock, and
// whether its holder is alive is the kernel lock on LiveFile. The agent
// writes the record atomically when a run takes or joins the bundle and
// when it detaches; the journal, which tells how far the run got, is
// appended to JournalFile and folded into Journal when the record is read.
type Lock struct {
	DeployID string    `json:"deploy_id" msgpack:"deploy_id"`
	Holder   string    `json:"holder" msgpack:"holder"` // user@host of the controller
	PID      int       `json:"pid" msgpack:"pid"`       // the controller's pid on its host
	Node     string    `json:"node" msgpack:"node"`
	Plan     string    `json:"plan" msgpack:"plan"`
	PlanHash string    `json:"plan_hash" msgpack:"plan_hash"`
	Steps    int       `json:"steps" msgpack:"steps"`
	Started  time.Time `json:"started" msgpack:"started"`
	// Params are the run's -p KEY=VALUE values, which --resume applies
	// again: the plan's steps resolved with them.
	Params   map[string]string `json:"params,omitempty" msgpack:"params,omitempty"`
	AgentPID int               `json:"agent_pid,omitempty" msgpack:"agent_pid,omitempty"`
	// Session changes each time an agent takes or joins the bundle. Attach
	// and unlock compare it with the record the operator's conc read, so
	// that they never act on a lock that changed hands since.
	Session  string    `json:"session,omitempty" msgpack:"session,omitempty"`
	Attached time.Time `json:"attached,omitzero" msgpack:"attached,omitempty"` // node clock: when Session began
	Detached time.Time `json:"detached,omitzero" msgpack:"detached,omitempty"` // node clock: when its agent let go
	Journal  []Entry   `json:"-" msgpack:"journal,omitempty"`
}

// Entry is one job's line in the journal.
type Entry struct {
	Step int `json:"step" msgpack:"step"`
	// Seq orders the jobs of one run, however many workstations and
	// resumes it took: the controller numbers each job it starts, going on
	// from the highest number in the journal it resumes. A step run again
	// has a higher Seq, which decides which outcome is the latest without
	// comparing the clocks of the node and the workstations.
	Seq      int64     `json:"seq,omitempty" msgpack:"seq,omitempty"`
	Host     string    `json:"host" msgpack:"host"`
	Op       string    `json:"op" msgpack:"op"`
	Status   string    `json:"status" msgpack:"status"` // a jobs.Status, or "SKIPPED"
	Message  string    `json:"message,omitempty" msgpack:"message,omitempty"`
	Change   string    `json:"change,omitempty" msgpack:"change,omitempty"` // changed or unchanged, for ops that say
	Duration Duration  `json:"duration" msgpack:"duration"`
	Ended    time.Time `json:"ended" msgpack:"ended"`
}

// Skipped is the journal status of a job the operator chose not to run.
const Skipped = "SKIPPED"

// Last returns the entry of the job that ended last, which after a
// --from is not the highest step, or false when nothing has run.
func (l *Lock) Last() (Entry, bool) {
	if l == nil || len(l.Journal) == 0 {
		return Entry{}, false
	}
	last := l.Journal[0]
	for _, e := range l.Journal[1:] {
		if !e.Ended.Before(last.Ended) {
			last = e
		}
	}
	return last, true
}

// String names the holder in one line, for BLOCKED messages.
func (l *Lock) String() string {
	s := fmt.Sprintf("%s (pid %d), deploy %s, plan %q, started %s",
		l.Holder, l.PID, l.DeployID, l.Plan, l.Started.Local().Format(time.DateTime))
	if e, ok := l.Last(); ok {
		s += fmt.Sprintf(", last step %d %s %s", e.Step, e.Op, e.Status)
	}
	return s
}

// Marshal encodes the record, without its journal, as indented JSON for
// the lock file.
func (l *Lock) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode lock record: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseLock decodes a lock file.
func ParseLock(b []byte) (*Lock, error) {
	var l Lock
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("decode lock record: %w", err)
	}
	return &l, nil
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON so the
// lock file stays readable by hand.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
