package runreport

import (
	"time"

	"github.com/concdeploy/conc/jobs"
)

// Outcome is how a node's run ended, for the recap.
type Outcome struct {
	Node     string
	Ran      bool        // false: the rollout stopped before it started
	Status   jobs.Status // how it ended
	Step     int         // the last step that ran, 0 if none
	Steps    int
	Op       string // that step's op
	Message  string // why it ended, when not OK
	Duration time.Duration
	// Resumable: the run left a journal that --resume continues.
	Resumable bool
	At        bool // the run ended at Step, not after it

	started time.Time
}

// Job notes a job's end.
func (o *Outcome) Job(step int, op string, res jobs.Result) {
	o.Step, o.Op, o.At = step, op, res.Status != jobs.OK
	if o.At {
		o.Message = res.Message
	}
}

// Start notes that the node's run starts.
func (o *Outcome) Start() { o.started = time.Now() }

// End notes how the node's run ended.
func (o *Outcome) End(st jobs.Status) {
	o.Ran, o.Status, o.Duration = true, st, time.Since(o.started)
}
