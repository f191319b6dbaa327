package jobs

import (
	"context"
	"strings"
)

// OpPause is the op that stops a deploy on purpose; resuming continues
// after it.
const OpPause = "pause"

func init() { Register(pause{}) }

type pause struct{}

func (pause) Info() Info {
	return Info{
		Name: OpPause, Usage: "[MESSAGE...]",
		Doc:   "stop the deploy here on purpose (STOPPED) with MESSAGE, so the operator can check or fix things by hand and resume after it",
		Hosts: []Host{Local, Remote},
	}
}

// Prepare takes the message words as they are: a pause has no options.
func (pause) Prepare(_ Host, args []string) (Action, error) {
	msg := strings.Join(args, " ")
	if strings.TrimSpace(msg) == "" {
		msg = "paused"
	}
	return pauseAction{msg: msg}, nil
}

type pauseAction struct{ msg string }

func (a pauseAction) Run(context.Context, Env) Result {
	return Result{Status: Stopped, Message: a.msg}
}
