package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/deploy"
	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/prompt"
	"github.com/concdeploy/conc/runreport"
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
	entries, err := bundle.ReadJournalFile(filepath.Join(p.bundleDir(), bundle.JournalFile))
	if err != nil || !slices.ContainsFunc(entries, func(e bundle.Entry) bool { return e.Step == 3 && e.Status == string(bundle.Skipped) }) {
		t.Errorf("the node's journal lacks step 3 SKIPPED: %+v, %v", entries, err)
	}
	r := p.conc("deploy", "node1", "--resume")
	if r.code != 0 {
		t.Fatalf("resume: %s", r)
	}
	if got := readFile(t, p.nodePath("ran.log")); got != "2\n4\n" {
		t.Errorf("after the resume jobs ran as %q, want the skipped step 3 left out", got)
	}
}

// TestStepInterrupt: Ctrl-C at a --step question stops the run at once,
// STOPPED, without an answer, and the node's journal keeps every entry
// written before, open_bundle's among them: the run's bye carries it.
func TestStepInterrupt(t *testing.T) {
	n := testnode.InProcess(t)
	p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run "echo 2 >> ../ran.log"
step = remote close_bundle
`)
	// The operator answers the first question, then never again.
	in, answers := io.Pipe()
	t.Cleanup(func() { answers.Close() })
	go answers.Write([]byte("y\n"))
	asked := newWatchedBuffer("[2/3]")
	var out bytes.Buffer
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan int, 1)
	go func() { done <- steppedCtx(ctx, t, p, in, asked, &out) }()
	select {
	case <-asked.seen:
	case code := <-done:
		t.Fatalf("the run ended (exit %d) before its second question:\n%s", code, out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no second question:\n%s", asked.String())
	}
	cancel(jobs.ErrCanceled)
	select {
	case code := <-done:
		if code != jobs.ExitStopped || !strings.Contains(out.String(), "stopped before step 2/3") {
			t.Errorf("exit %d, want 4 (STOPPED) before step 2:\n%s", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C at the question did not stop the run: it still waits for the answer")
	}
	if exists(p.nodePath("ran.log")) {
		t.Error("step 2 ran after Ctrl-C at its question")
	}
	entries, err := bundle.ReadJournalFile(filepath.Join(p.bundleDir(), bundle.JournalFile))
	if err != nil || !slices.ContainsFunc(entries, func(e bundle.Entry) bool {
		return e.Step == 1 && e.Op == "open_bundle" && e.Status == "OK"
	}) {
		t.Errorf("the node's journal lost open_bundle: %+v (%v)", entries, err)
	}
}

// stepped runs the project's deploy plan on node1 under --step, with the
// operator's answers scripted; the questions go to asked, the run's
// output to out. It returns the exit code.
func stepped(t *testing.T, p *project, answers string, asked, out io.Writer) int {
	t.Helper()
	return steppedCtx(context.Background(), t, p, strings.NewReader(answers), asked, out)
}

// steppedCtx is stepped with the operator's context and terminal.
func steppedCtx(ctx context.Context, t *testing.T, p *project, in io.Reader, asked, out io.Writer) int {
	t.Helper()
	f, err := config.Load(p.file)
	if err != nil {
		t.Error(err)
		return -1
	}
	nodes, _ := f.Targets([]string{"node1"})
	rep := runreport.NewReporter(out, nil, false, false)
	defer rep.Close()
	d, err := deploy.New(&deploy.Options{File: f, Ops: ops, Plan: "deploy", Agents: agents, Reporter: rep, Log: zerolog.Nop(),
		Step: &prompt.Stepper{Ctx: ctx, In: bufio.NewReader(in), Out: asked}, Verb: "deploy", Invocation: "conc"}, nodes)
	if err != nil {
		t.Error(err)
		return -1
	}
	return d.Run(ctx)
}

// watchedBuffer is a buffer written by one goroutine and read by another,
// which closes seen once what is written contains match.
type watchedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	match string
	seen  chan struct{}
}

func newWatchedBuffer(match string) *watchedBuffer {
	return &watchedBuffer{match: match, seen: make(chan struct{})}
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.buf.String(), w.match)
	w.buf.Write(p)
	if !had && strings.Contains(w.buf.String(), w.match) {
		close(w.seen)
	}
	return len(p), nil
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestConfirmInterrupt: Ctrl-C while conc unlock waits for its answer is a
// no, at once, though the answer never comes.
func TestConfirmInterrupt(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan bool, 1)
	go func() { done <- prompt.ReadYes(ctx, r) }()
	cancel(jobs.ErrCanceled)
	select {
	case yes := <-done:
		if yes {
			t.Error("an interrupted question answered yes")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the question did not end with Ctrl-C")
	}
	if !prompt.ReadYes(context.Background(), strings.NewReader("YES\n")) {
		t.Error("yes was not read as yes")
	}
}
