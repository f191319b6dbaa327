package bundle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
)

// JournalFile holds the journal next to the lock record: one JSON entry per
// line, appended after every job. Appending one line is one write, so the
// cost of journaling does not grow with the plan, and a crash can at worst
// leave a last line cut short, which ReadJournal ignores.
const JournalFile = ".conc-journal"

// AppendEntry writes e to f as one line, with a single write.
func AppendEntry(f io.Writer, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode journal entry: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("append to the journal: %w", err)
	}
	return nil
}

// ReadJournal reads entries, in order. A last line without its newline is
// a write cut short by a crash and is ignored; so is a line that is not an
// entry, as when a write cut short on a full disk had the next one appended
// to it: what is left of the journal is still worth reading.
func ReadJournal(r io.Reader) ([]Entry, error) {
	var out []Entry
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return out, nil // a partial last line, if any, is dropped
		}
		if err != nil {
			return out, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var e Entry
		if json.Unmarshal(line, &e) == nil {
			out = append(out, e)
		}
	}
}

// ReadJournalFile reads a journal file; a missing file is an empty journal.
func ReadJournalFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadJournal(f)
}

// Fold returns the latest entry of each step, in step order: a resumed run
// re-runs a step, and only its latest outcome counts. Latest is by the
// order of entries, which in one journal is the order jobs ended.
func Fold(entries []Entry) []Entry {
	latest := map[int]int{}
	var steps []int
	for i, e := range entries {
		if _, ok := latest[e.Step]; !ok {
			steps = append(steps, e.Step)
		}
		latest[e.Step] = i
	}
	slices.Sort(steps)
	out := make([]Entry, 0, len(steps))
	for _, s := range steps {
		out = append(out, entries[latest[s]])
	}
	return out
}
