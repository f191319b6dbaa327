package nodelock

import (
	"errors"
	"strings"
	"testing"

	"github.com/concdeploy/conc/bundle"
)

// TestLockHeader: the line before a locked node's tests, for each shape of
// lock, a bundle without a record included.
func TestLockHeader(t *testing.T) {
	rec := &bundle.Lock{Holder: "ops@ws", DeployID: "d1", Journal: []bundle.Entry{{Step: 2, Op: "run", Status: "FAILED"}}}
	tests := []struct {
		st   *NodeStatus
		err  error
		want string
	}{
		{&NodeStatus{}, nil, ""},
		{&NodeStatus{Held: true, Lock: rec}, nil, "locked by ops@ws (deploy d1, at step 2 run: FAILED)"},
		{&NodeStatus{Held: true}, nil, "without a lock record"},
		{nil, errors.New("no route"), "cannot read its lock: no route"},
	}
	for _, tt := range tests {
		got := TestHeader("node1", tt.st, tt.err)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("TestHeader = %q, want %q", got, tt.want)
		}
	}
}
