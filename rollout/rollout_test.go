package rollout

import (
	"fmt"
	"strings"
	"testing"

	"github.com/concdeploy/conc/jobs"
)

func TestParseBatches(t *testing.T) {
	tests := []struct {
		in      string
		total   int
		want    string // the batches' sizes
		wantErr string
	}{
		{"1", 3, "[1 1 1]", ""},
		{"1,25%,100%", 10, "[1 2 7]", ""},
		{"1,25%,100%", 3, "[1 1 1]", ""}, // 25% of 3 rounds to none: a batch has one at least
		{"50%", 5, "[2 2 1]", ""},
		{"2, 3", 9, "[2 3 3 1]", ""},
		{"100%", 4, "[4]", ""},
		{"0", 3, "", "never ends"},
		{"x", 3, "", "not a count"},
		{"101%", 3, "", "at most 100%"},
		{"-1", 3, "", "not a count"},
		{"1,,2", 3, "", "not a count"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, err := ParseBatches(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseBatches(%q) = %v, %v; want an error with %q", tt.in, b, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int
			covered := 0
			for _, r := range (Rollout{Batches: b}).Split(tt.total) {
				if r[0] != covered {
					t.Fatalf("batch %v does not start where the last ended (%d)", r, covered)
				}
				sizes = append(sizes, r[1]-r[0])
				covered = r[1]
			}
			if got := fmt.Sprint(sizes); got != tt.want || covered != tt.total {
				t.Errorf("batches of %d: %s covering %d, want %s", tt.total, got, covered, tt.want)
			}
		})
	}
}

func TestRolloutHalts(t *testing.T) {
	tests := []struct {
		maxFail string
		total   int
		fails   int
		halted  bool
	}{
		{"0", 5, 0, false},
		{"0", 5, 1, true},
		{"1", 5, 1, false},
		{"1", 5, 2, true},
		{"40%", 5, 2, false},
		{"40%", 5, 3, true},
		{"100%", 5, 5, false},
		{"10%", 5, 1, true}, // 10% of 5 rounds down to none tolerated
	}
	for _, tt := range tests {
		m, err := ParseSize(tt.maxFail)
		if err != nil {
			t.Fatal(err)
		}
		s := &State{Limit: m.Of(tt.total)}
		for i := range tt.fails {
			s.Fail(fmt.Sprintf("node%d", i+1))
		}
		if got := s.Halted() != ""; got != tt.halted {
			t.Errorf("--max-fail %s of %d nodes, %d failed: halted %v (%q), want %v", tt.maxFail, tt.total, tt.fails, got, s.Halted(), tt.halted)
		}
	}
	var none *State
	if none.Halted() != "" {
		t.Error("a run without a rollout halted")
	}
}

func TestFailing(t *testing.T) {
	for st, want := range map[jobs.Status]bool{
		jobs.OK: false, jobs.Stopped: false,
		jobs.Blocked: true, jobs.Failed: true, jobs.Error: true, jobs.TimedOut: true,
	} {
		if Failing(st) != want {
			t.Errorf("Failing(%s) = %v", st, !want)
		}
	}
}
