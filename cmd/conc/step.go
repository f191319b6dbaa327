package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/concdeploy/conc/deploy"
	"github.com/concdeploy/conc/jobs"
)

// prompter asks the operator before each job, for --step.
type prompter struct {
	ctx context.Context // the run's, as Ask takes none: Ctrl-C ends a question, the run STOPPED
	in  *bufio.Reader
	out io.Writer
}

// Ask implements deploy.Stepper.
func (p *prompter) Ask(node string, step, steps int, job jobs.Job) deploy.StepAnswer {
	for {
		fmt.Fprintf(p.out, "[%d/%d] %s %s  run it? [y]es, [n]o skip, [s]top here, [c]ontinue without asking: ", step, steps, hostName(node, job.Host), job)
		line, err := await(p.ctx, func() (string, error) { return p.in.ReadString('\n') })
		if err != nil {
			fmt.Fprintln(p.out)
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

func hostName(node string, h jobs.Host) string {
	if h == jobs.Local {
		return node + " (local)"
	}
	return node
}
