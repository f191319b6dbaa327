package nodeops

import (
	"context"
	"strings"

	"github.com/concdeploy/conc/jobs"
)

// OpPause is the op that stops a deploy on purpose; resuming continues
// after it.
const OpPause = "pause"

type pause struct{}

func (pause) Info() jobs.Info {
	return jobs.Info{
		Name: OpPause, Usage: "[MESSAGE...]",
		Doc:    "stop the deploy here on purpose (STOPPED) with MESSAGE, so the operator can check or fix things by hand and resume after it",
		Hosts:  []jobs.Host{jobs.Local, jobs.Remote},
		Pauses: true,
	}
}

// Prepare takes the message words as they are: a pause has no options.
func (pause) Prepare(_ jobs.Host, args []string) (jobs.Action, error) {
	msg := strings.Join(args, " ")
	if strings.TrimSpace(msg) == "" {
		msg = "paused"
	}
	return pauseAction{msg: msg}, nil
}

type pauseAction struct{ msg string }

func (a pauseAction) Run(context.Context, jobs.Env) jobs.Result {
	return jobs.Result{Status: jobs.Stopped, Message: a.msg}
}
