// Package prompt asks the operator: yes or no, the --step question before
// each job, the sudo password without echo. Every question gives way to
// Ctrl-C at once: a read that takes no context is left behind (conc is
// exiting), and the terminal gets its echo back.
package prompt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/concdeploy/conc/deploy"
	"github.com/concdeploy/conc/jobs"
)

// Stopped reports whether err is ctx's end: the operator stopped conc.
func Stopped(ctx context.Context, err error) bool {
	return err != nil && ctx != nil && ctx.Err() != nil
}

// Await returns f's result, or ctx's cause once ctx ends, leaving f blocked
// (conc is exiting), for reads that take no context: the deploy file, the
// operator's answer. After ctx has ended it never calls f, so two reads of
// one stream never overlap. A nil ctx never ends.
func Await[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx == nil {
		return f()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	if ctx.Err() == nil {
		go func() { v, err := f(); ch <- result{v, err} }()
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}

// ReadYes reads an answer from in: yes for "y" or "yes". Ctrl-C while it
// waits (ctx ends) is a no, at once.
func ReadYes(ctx context.Context, in io.Reader) bool {
	line, err := Await(ctx, func() (string, error) { return bufio.NewReader(in).ReadString('\n') })
	if Stopped(ctx, err) {
		return false
	}
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

// ErrStopped is a question Ctrl-C ended.
var ErrStopped = errors.New("stopped at the prompt")

// Password reads a password from the terminal in without echo, after
// saying question on out. Ctrl-C returns ErrStopped at once, with the
// terminal's echo given back.
func Password(ctx context.Context, in *os.File, out io.Writer, question string) ([]byte, error) {
	fmt.Fprint(out, question)
	fd := int(in.Fd())
	state, _ := term.GetState(fd)
	pw, err := Await(ctx, func() ([]byte, error) { return term.ReadPassword(fd) })
	fmt.Fprintln(out)
	if Stopped(ctx, err) {
		// The read goes on without us: give the terminal its echo back.
		if state != nil {
			term.Restore(fd, state)
		}
		return nil, ErrStopped
	}
	return pw, err
}

// FirstLine reads a secret from the first line of r, for
// --sudo-password-file and --sudo-password-stdin.
func FirstLine(r io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return nil, errors.New("it is empty")
	}
	return line, nil
}

// Stepper asks the operator before each job, for --step.
type Stepper struct {
	Ctx context.Context // the run's, as Ask takes none: Ctrl-C ends a question, the run STOPPED
	In  *bufio.Reader
	Out io.Writer
}

var _ deploy.Stepper = (*Stepper)(nil)

// Ask implements deploy.Stepper.
func (p *Stepper) Ask(node string, step, steps int, job jobs.Job) deploy.StepAnswer {
	where := node
	if job.Host == jobs.Local {
		where = node + " (local)"
	}
	for {
		fmt.Fprintf(p.Out, "[%d/%d] %s %s  run it? [y]es, [n]o skip, [s]top here, [c]ontinue without asking: ", step, steps, where, job)
		line, err := Await(p.Ctx, func() (string, error) { return p.In.ReadString('\n') })
		if err != nil {
			fmt.Fprintln(p.Out)
			return deploy.StepStop // the terminal went away, or Ctrl-C: stop, never guess
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return deploy.StepRun
		case "n", "no":
			return deploy.StepSkip
		case "s", "stop":
			return deploy.StepStop
		case "c", "continue":
			return deploy.StepAll
		}
	}
}
