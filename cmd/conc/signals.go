package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/concdeploy/conc/jobs"
)

// interruptContext returns a context canceled with jobs.ErrCanceled on the
// first Ctrl-C (or SIGTERM): running jobs are then stopped in-band and the
// run ends STOPPED, leaving the bundle for a resume. A second Ctrl-C exits
// at once.
func interruptContext(parent context.Context, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "\nconc: stopping the running job (Ctrl-C again to exit at once)")
		cancel(jobs.ErrCanceled)
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "conc: exiting now; the node keeps its bundle and the agent kills the job when the connection drops")
			os.Exit(jobs.ExitStopped)
		case <-done:
		}
	}()
	return ctx, sync.OnceFunc(func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	})
}
