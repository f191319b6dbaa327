package nodeops

import (
	"context"
	"strings"
	"testing"

	"github.com/concdeploy/conc/jobs"
)

func TestPause(t *testing.T) {
	tests := []struct {
		name string
		host jobs.Host
		args []string
		want string
	}{
		{"no message", jobs.Remote, nil, "paused"},
		{"blank message", jobs.Local, []string{" "}, "paused"},
		{"words", jobs.Local, []string{"check", "the", "logs"}, "check the logs"},
		{"option-like words", jobs.Remote, []string{"--check", "-v", "then resume"}, "--check -v then resume"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runStep(t, newTestEnv(t), context.Background(), 0, tt.host, append([]string{OpPause}, tt.args...)...)
			if res.Status != jobs.Stopped || res.Message != tt.want {
				t.Errorf("got %s %q, want STOPPED %q", res.Status, res.Message, tt.want)
			}
			if code := res.Status.ExitCode(); code != jobs.ExitStopped {
				t.Errorf("exit code %d, want %d", code, jobs.ExitStopped)
			}
		})
	}
}

// TestOpsDocumented checks what conc ops shows: every op has a one-line
// doc and runs somewhere.
func TestOpsDocumented(t *testing.T) {
	for _, op := range testOps.All() {
		info := op.Info()
		if info.Doc == "" || strings.Contains(info.Doc, "\n") {
			t.Errorf("%s: doc %q, want one line", info.Name, info.Doc)
		}
		if len(info.Hosts) == 0 {
			t.Errorf("%s runs on no host", info.Name)
		}
	}
}
