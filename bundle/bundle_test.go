package bundle

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		dir     string
		wantErr string
	}{
		{".conc-bundle", ""},
		{"deploys/app", ""},
		{"", "empty"},
		{"/srv/bundle", "relative"},
		{"~/bundle", "relative"},
		{"..", "below the admin's home"},
		{"a/../..", "below the admin's home"},
		{".", "below the admin's home"},
		{".cache/conc", "agent cache"},
		{".cache", "agent cache"},
		{".cache/conc/x", "agent cache"},
		{"a\nb", "not allowed"},
	}
	for _, tt := range tests {
		err := CheckName(tt.dir)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("CheckName(%q) = %v, want %q", tt.dir, err, tt.wantErr)
		}
	}
}

func TestJournalReadAndFold(t *testing.T) {
	var b strings.Builder
	for _, e := range []Entry{{Step: 1, Status: "OK"}, {Step: 2, Status: "FAILED"}, {Step: 2, Status: "OK"}} {
		if err := AppendEntry(&b, e); err != nil {
			t.Fatal(err)
		}
	}
	// A write cut short on a full disk, with the next one appended to it,
	// then a last one cut short by a crash.
	b.WriteString(`{"step":4,"status":"O` + `{"step":5,"status":"OK"}` + "\n")
	b.WriteString(`{"step":3,"status":"O`)
	got, err := ReadJournal(strings.NewReader(b.String()))
	if err != nil || len(got) != 3 {
		t.Fatalf("ReadJournal = %d entries, %v; want the 3 whole lines", len(got), err)
	}
	folded := Fold(got)
	if len(folded) != 2 || folded[1].Step != 2 || folded[1].Status != "OK" {
		t.Errorf("Fold = %+v, want step 2's latest, OK", folded)
	}
}

func TestLockRoundTrip(t *testing.T) {
	l := Lock{DeployID: "d", Holder: "a@b", Session: "s1", Journal: []Entry{{Step: 1, Duration: Duration(3 * time.Second)}}}
	b, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "journal") || !strings.Contains(string(b), `"session": "s1"`) {
		t.Errorf("lock file %s: want no journal and the session", b)
	}
	back, err := ParseLock(b)
	if err != nil || back.DeployID != "d" || back.Session != l.Session {
		t.Errorf("ParseLock = %+v, %v", back, err)
	}
}

func TestLastIsLatest(t *testing.T) {
	t0 := time.Now()
	l := Lock{Journal: []Entry{{Step: 2, Ended: t0.Add(time.Minute)}, {Step: 3, Ended: t0}}}
	if e, ok := l.Last(); !ok || e.Step != 2 {
		t.Errorf("Last = step %d, want 2, the job that ended last", e.Step)
	}
}

// TestWireRoundTrip: a lock record and its journal cross the channel and
// come back the same.
func TestWireRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	l := &Lock{DeployID: "d", Holder: "a@b", PID: 7, Node: "n", Plan: "p", PlanHash: "h", Steps: 3, Started: t0,
		AgentPID: 9, Session: "s", Attached: t0, Detached: t0.Add(time.Minute),
		Journal: []Entry{{Step: 1, Seq: 1, Host: "remote", Op: "open_bundle", Status: "OK", Message: "m", Duration: Duration(time.Second), Ended: t0}}}
	if back := LockFromWire(l.Wire()); !reflect.DeepEqual(back, l) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, l)
	}
	if LockFromWire(nil) != nil || (*Lock)(nil).Wire() != nil {
		t.Error("nil does not stay nil")
	}
}
