package runreport

import (
	"encoding/json"
	"time"
)

// The events of --json, one JSON object per line on stdout. Their field
// names are stable: docs/json.md documents them, and CI reads them.
const (
	evRun      = "run"       // the run starts
	evJobStart = "job_start" // a job starts
	evJobEnd   = "job_end"   // a job ended
	evNodeEnd  = "node_end"  // a node's run ended
	evRecap    = "recap"     // the run ended: every node, and the exit code
)

type runEvent struct {
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
	Plan  string    `json:"plan"`
	Nodes []string  `json:"nodes"`
}

type jobEvent struct {
	Event    string    `json:"event"`
	Time     time.Time `json:"time"`
	Node     string    `json:"node"`
	Host     string    `json:"host"` // local or remote
	Step     int       `json:"step"`
	Steps    int       `json:"steps"`
	Op       string    `json:"op"`
	Status   string    `json:"status,omitempty"`
	Duration float64   `json:"duration,omitempty"` // seconds
	Message  string    `json:"message,omitempty"`
	Change   string    `json:"change,omitempty"` // changed or unchanged, for ops that write files
	Output   string    `json:"output,omitempty"` // the output's tail, when not OK or with -v
}

type nodeEvent struct {
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
	outcomeJSON
}

// outcomeJSON is a node's Outcome on the wire.
type outcomeJSON struct {
	Node     string  `json:"node"`
	Status   string  `json:"status"` // a job status, or "NOT RUN"
	Step     int     `json:"step"`   // the last step that ran, 0 if none
	Steps    int     `json:"steps"`
	Op       string  `json:"op,omitempty"`
	Message  string  `json:"message,omitempty"`
	Duration float64 `json:"duration"` // seconds
}

type recapJSON struct {
	Event  string         `json:"event"`
	Time   time.Time      `json:"time"`
	Nodes  []outcomeJSON  `json:"nodes"`
	Counts map[string]int `json:"counts"` // nodes by status
	Halted string         `json:"halted,omitempty"`
	Exit   int            `json:"exit"`
}

// notRun is the status of a node the rollout never started.
const notRun = "NOT RUN"

func outcomeOf(o Outcome) outcomeJSON {
	st := string(o.Status)
	if !o.Ran {
		st = notRun
	}
	return outcomeJSON{Node: o.Node, Status: st, Step: o.Step, Steps: o.Steps, Op: o.Op, Message: o.Message, Duration: o.Duration.Seconds()}
}

func recapEvent(outs []Outcome, halted string, code int) recapJSON {
	r := recapJSON{Event: evRecap, Time: time.Now(), Counts: map[string]int{}, Halted: halted, Exit: code}
	for _, o := range outs {
		j := outcomeOf(o)
		r.Nodes = append(r.Nodes, j)
		r.Counts[j.Status]++
	}
	return r
}

// event queues one event's line.
func (r *Reporter) event(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"event": "error", "message": err.Error()})
	}
	r.q.items <- item{data: append(b, '\n')}
}
