// Package runstate is a run's state on the workstation: the local journal
// of each node's runs, and the resume decision, which says from the
// journals and the node's lock what a --resume or --from does. The
// decision does no I/O, so every shape of journal is a row in a table test.
package runstate

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/internal/durable"
)

// State is the header of the local journal of a node's last run: the lock
// record this run wrote on the node, the deploy files, and how the run
// ended. Job entries follow in a journal file next to it, one line per job.
type State struct {
	bundle.Lock
	Files  []string  `json:"files"`
	Status string    `json:"status"` // RUNNING, or how the run ended
	Ended  time.Time `json:"ended,omitzero"`
}

// Running marks a run that has not ended, or whose controller died.
const Running = "RUNNING"

// Journal is the local journal of one node: the State header, rewritten
// atomically when the run starts and ends, and the entries, appended one
// line per job. A crash of the controller loses only the job in flight.
type Journal struct {
	dir    string
	State  State
	latest map[int]bundle.Entry // the latest entry of each step
	f      *durable.Appender
}

// journalPaths names a run's files: each run has its own, under a
// directory per node, so a run that is refused cannot overwrite the journal
// of the run that holds the node.
func journalPaths(dir, node, deployID string) (header, entries string) {
	base := filepath.Join(dir, node, deployID)
	return base + ".json", base + ".journal"
}

// NewJournal starts the journal of a new run.
func NewJournal(dir string, st State) (*Journal, error) {
	if err := os.MkdirAll(filepath.Join(dir, st.Node), 0o700); err != nil {
		return nil, fmt.Errorf("create the state directory: %w", err)
	}
	_, ep := journalPaths(dir, st.Node, st.DeployID)
	f, err := os.OpenFile(ep, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create the journal: %w", err)
	}
	j := &Journal{dir: dir, State: st, f: durable.NewAppender(f), latest: map[int]bundle.Entry{}}
	j.State.Journal = nil
	if err := j.writeHeader(); err != nil {
		j.f.Close()
		return nil, err
	}
	return j, nil
}

// OpenJournal reads one run of a node, to resume it. It returns nil, nil
// when there is none.
func OpenJournal(dir, node, deployID string) (*Journal, error) {
	hp, ep := journalPaths(dir, node, deployID)
	b, err := os.ReadFile(hp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the journal of %s: %w", node, err)
	}
	j := &Journal{dir: dir, latest: map[int]bundle.Entry{}}
	if err := json.Unmarshal(b, &j.State); err != nil {
		return nil, fmt.Errorf("read the journal of %s (%s): %w", node, hp, err)
	}
	entries, err := bundle.ReadJournalFile(ep)
	if err != nil {
		return nil, fmt.Errorf("read the journal of %s (%s): %w", node, ep, err)
	}
	for _, e := range entries {
		j.latest[e.Step] = e
	}
	f, err := os.OpenFile(ep, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the journal of %s: %w", node, err)
	}
	j.f = durable.NewAppender(f)
	return j, nil
}

// ReadEntries reads the entries of one run of a node, in the order they
// were written, without opening the journal for writing.
func ReadEntries(dir, node, deployID string) ([]bundle.Entry, error) {
	_, ep := journalPaths(dir, node, deployID)
	entries, err := bundle.ReadJournalFile(ep)
	if err != nil {
		return nil, fmt.Errorf("read the journal of %s (%s): %w", node, ep, err)
	}
	return entries, nil
}

// Record appends a job's entry.
func (j *Journal) Record(e bundle.Entry) error {
	j.latest[e.Step] = e
	return bundle.AppendEntry(j.f, e)
}

// End records how the run ended and closes the journal.
func (j *Journal) End(status string) error {
	j.State.Status = status
	j.State.Ended = time.Now()
	err := j.writeHeader()
	j.f.Close()
	return err
}

// Close closes the journal without ending the run.
func (j *Journal) Close() error { return j.f.Close() }

// Entries returns the latest entry of each step, in step order.
func (j *Journal) Entries() []bundle.Entry {
	all := make([]bundle.Entry, 0, len(j.latest))
	for _, e := range j.latest {
		all = append(all, e)
	}
	return bundle.Fold(all)
}

func (j *Journal) writeHeader() error {
	b, err := json.MarshalIndent(&j.State, "", "  ")
	if err != nil {
		return err
	}
	hp, _ := journalPaths(j.dir, j.State.Node, j.State.DeployID)
	if err := durable.WriteFile(hp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write the journal: %w", err)
	}
	return nil
}

// NewDeployID names a new run: its start time in UTC and a random suffix,
// so that ids sort by time and two runs started in one second differ.
func NewDeployID() string {
	b := make([]byte, 3)
	rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// Runs lists a node's runs in the state directory, newest first.
func Runs(dir, node string) ([]State, error) {
	paths, err := filepath.Glob(filepath.Join(dir, node, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []State
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var s State
		if json.Unmarshal(b, &s) == nil && s.DeployID != "" {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out, nil
}

// Adopt makes entries, decided elsewhere to be the latest of their steps
// (see mergeLatest), the latest in this journal too.
func (j *Journal) Adopt(entries []bundle.Entry) error {
	for _, e := range entries {
		if have, ok := j.latest[e.Step]; ok && have.Seq == e.Seq && have.Status == e.Status && have.Ended.Equal(e.Ended) {
			continue
		}
		if err := j.Record(e); err != nil {
			return err
		}
	}
	return nil
}

// Reopen marks a run as running again, for a resume.
func (j *Journal) Reopen() error {
	j.State.Status = Running
	j.State.Ended = time.Time{}
	return j.writeHeader()
}
