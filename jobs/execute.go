package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrCanceled is the cause given to a job's context when the operator stops
// it; the job then ends STOPPED.
var ErrCanceled = errors.New("stopped by the operator")

// Execute runs a prepared action with the job's timeout and maps how its
// context ended onto the status: past the timeout the job is TIMED OUT, when
// canceled with ErrCanceled it is STOPPED, whatever the action returned.
// A panic in the action is an ERROR, not a crash of the host.
func Execute(ctx context.Context, a Action, env Env, timeout time.Duration) (res Result) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timed out after %s", timeout))
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			res = Resultf(Error, "op panicked: %v (a bug in conc; please report it)", p)
		}
	}()
	res = a.Run(ctx, env)
	switch {
	case ctx.Err() == nil:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Status = TimedOut
		res.Message = fmt.Sprintf("timed out after %s; its process group was killed", timeout)
	case errors.Is(context.Cause(ctx), ErrCanceled):
		res.Status = Stopped
		res.Message = "stopped by the operator; its process group was killed"
	default:
		res.Status = Error
		res.Message = fmt.Sprintf("interrupted: %v", context.Cause(ctx))
	}
	if !res.Status.Valid() {
		res = Resultf(Error, "op returned status %q (a bug in the op)", res.Status)
	}
	return res
}
