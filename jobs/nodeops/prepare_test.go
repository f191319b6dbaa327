package nodeops

import (
	"reflect"
	"strings"
	"testing"

	"github.com/concdeploy/conc/jobs"
)

func TestPrepareErrors(t *testing.T) {
	tests := []struct {
		job     jobs.Job
		wantErr string
	}{
		{jobs.Job{Host: jobs.Remote, Op: "frobnicate"}, `unknown op "frobnicate"`},
		{jobs.Job{Host: jobs.Local, Op: "ping"}, "does not run on local"},
		{jobs.Job{Host: jobs.Local, Op: "create_venv", Args: []string{"x"}}, "does not run on local"},
		{jobs.Job{Host: jobs.Remote, Op: "run"}, "needs a command"},
		{jobs.Job{Host: jobs.Local, Op: "run", Args: []string{"--sudo", "id"}}, "node only"},
		{jobs.Job{Host: jobs.Remote, Op: "untar", Args: []string{"[x"}}, "bad glob"},
		{jobs.Job{Host: jobs.Remote, Op: "untar", Args: []string{"a.tgz", "--into", "../x"}}, "leaves the bundle"},
		{jobs.Job{Host: jobs.Remote, Op: "open_bundle", Args: []string{"x"}}, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.job.String(), func(t *testing.T) {
			_, err := Prepare(tt.job)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Prepare(%s) = %v, want error containing %q", tt.job, err, tt.wantErr)
			}
		})
	}
}

func TestRunArgv(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"echo", "a b"}, []string{"echo", "a b"}},
		{[]string{"echo hi > out"}, []string{"/bin/sh", "-c", "echo hi > out"}},
		{[]string{"--sudo", "systemctl", "restart", "app"}, []string{"systemctl", "restart", "app"}},
		{[]string{"ls", "-la"}, []string{"ls", "-la"}},
	}
	for _, tt := range tests {
		a, err := Prepare(jobs.Job{Host: jobs.Remote, Op: "run", Args: tt.args})
		if err != nil {
			t.Fatal(err)
		}
		if got := a.(runAction).argv; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("run %q: argv %q, want %q", tt.args, got, tt.want)
		}
	}
}
