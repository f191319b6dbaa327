package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/deploy"
	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/jobs"
	"github.com/rs/zerolog"
)

// TestStepAnswers drives --step's questions with scripted answers: y runs
// a job, n skips it (journaled as skipped, and a resume does not run it),
// s stops the run STOPPED.
func TestStepAnswers(t *testing.T) {
	n := testnode.InProcess(t)
	p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run "echo 2 >> ../ran.log"
step = remote run "echo 3 >> ../ran.log"
step = remote run "echo 4 >> ../ran.log"
step = remote close_bundle
`)
	var asked, out bytes.Buffer
	code := stepped(t, p, "y\nmaybe\ny\nn\ns\n", &asked, &out)
	if code != jobs.ExitStopped {
		t.Fatalf("exit %d, want 4\n%s", code, out.String())
	}
	for _, want := range []string{"[1/5] node1 remote open_bundle", "[3/5] node1 remote run 'echo 3 >> ../ran.log'", "[4/5]"} {
		if !strings.Contains(asked.String(), want) {
			t.Errorf("questions lack %q:\n%s", want, asked.String())
		}
	}
	if strings.Count(asked.String(), "[2/5]") != 2 {
		t.Errorf("an unreadable answer did not ask again:\n%s", asked.String())
	}
	if !strings.Contains(out.String(), "SKIPPED") || !strings.Contains(out.String(), "stopped before step 4/5") {
		t.Errorf("output:\n%s", out.String())
	}
	if got := readFile(t, p.nodePath("ran.log")); got != "2\n" {
		t.Errorf("jobs ran as %q, want only step 2", got)
	}
	r := p.conc("deploy", "node1", "--resume")
	if r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	if got := readFile(t, p.nodePath("ran.log")); got != "2\n4\n" {
		t.Errorf("after the resume jobs ran as %q, want the skipped step 3 left out", got)
	}
}

// stepped runs the project's deploy plan on node1 under --step, with the
// operator's answers scripted; the questions go to asked, the run's
// output to out. It returns the exit code.
func stepped(t *testing.T, p *project, answers string, asked, out io.Writer) int {
	t.Helper()
	f, err := config.Load(p.file)
	if err != nil {
		t.Fatal(err)
	}
	nodes, _ := f.Targets([]string{"node1"})
	rep := deploy.NewReporter(out, nil, false, false)
	defer rep.Close()
	d, err := deploy.New(&deploy.Options{File: f, Ops: ops, Plan: "deploy", Agents: agents, Reporter: rep, Log: zerolog.Nop(),
		Step: &prompter{in: bufio.NewReader(strings.NewReader(answers)), out: asked}, Verb: "deploy", Invocation: "conc"}, nodes)
	if err != nil {
		t.Fatal(err)
	}
	return d.Run(context.Background())
}
