package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/concdeploy/conc/controller"
	"github.com/concdeploy/conc/jobs"
)

// prompter asks the operator before each job, for --step.
type prompter struct {
	in  *bufio.Reader
	out io.Writer
}

// Ask implements controller.Stepper.
func (p *prompter) Ask(node string, step, steps int, job jobs.Job) controller.StepAnswer {
	for {
		fmt.Fprintf(p.out, "[%d/%d] %s %s  run it? [y]es, [n]o skip, [s]top here, [c]ontinue without asking: ", step, steps, hostName(node, job.Host), job)
		line, err := p.in.ReadString('\n')
		if err != nil {
			fmt.Fprintln(p.out)
			return controller.StepStop // the terminal went away: stop, never guess
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return controller.StepRun
		case "n", "no":
			return controller.StepSkip
		case "s", "stop":
			return controller.StepStop
		case "c", "continue":
			return controller.StepAll
		}
	}
}

func hostName(node string, h jobs.Host) string {
	if h == jobs.Local {
		return "localhost"
	}
	return node
}
