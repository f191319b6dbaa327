package nodeops

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concdeploy/conc/jobs"
	"github.com/rs/zerolog"
)

// testEnv is a jobs.Env over a temporary directory.
type testEnv struct {
	dir   string
	out   *jobs.Tail
	procs jobs.Procs
	sudo  []byte
	// params are the node's params; tests may replace them.
	params map[string]string
}

func newTestEnv(tb testing.TB) *testEnv {
	tb.Helper()
	e := &testEnv{dir: tb.TempDir(), out: jobs.NewTail(nil), params: map[string]string{"admin": "deploy"}}
	tb.Cleanup(e.procs.KillAll)
	return e
}

func (e *testEnv) Host() jobs.Host           { return jobs.Remote }
func (e *testEnv) Node() string              { return "node1" }
func (e *testEnv) Params() map[string]string { return e.params }
func (e *testEnv) Home() string              { return e.dir }
func (e *testEnv) Bundle() string            { return filepath.Join(e.dir, "bundle") }
func (e *testEnv) Dir() string               { return e.dir }
func (e *testEnv) Output() io.Writer         { return e.out }
func (e *testEnv) SudoPassword() []byte      { return e.sudo }
func (e *testEnv) Log() *zerolog.Logger      { l := zerolog.Nop(); return &l }
func (e *testEnv) Remote(context.Context) (jobs.RemoteFS, error) {
	return nil, errors.New("no remote in tests")
}
func (e *testEnv) Exec(ctx context.Context, c jobs.Command) (int, error) {
	if c.Stdout == nil {
		c.Stdout = e.out
	}
	if c.Stderr == nil {
		c.Stderr = e.out
	}
	return e.procs.Exec(ctx, c)
}

func runStep(tb testing.TB, env jobs.Env, ctx context.Context, timeout time.Duration, host jobs.Host, args ...string) jobs.Result {
	tb.Helper()
	a, err := Prepare(jobs.Job{Host: host, Op: args[0], Args: args[1:]})
	if err != nil {
		tb.Fatal(err)
	}
	return jobs.Execute(ctx, a, env, timeout)
}

func TestRunResults(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStatus jobs.Status
		wantCode   int
		wantOut    string
		wantMsg    string
	}{
		{"ok", []string{"run", "echo", "hello"}, jobs.OK, 0, "hello", ""},
		{"shell string", []string{"run", "echo one; echo two >&2; exit 0"}, jobs.OK, 0, "one\ntwo", ""},
		{"exit code", []string{"run", "echo bad output; exit 7"}, jobs.Failed, 7, "bad output", "exit status 7"},
		{"not found", []string{"run", "/no/such/program", "arg"}, jobs.Failed, -1, "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			res := runStep(t, env, context.Background(), 0, jobs.Remote, tt.args...)
			if res.Status != tt.wantStatus || res.ExitCode != tt.wantCode {
				t.Errorf("status %s code %d, want %s %d (%s)", res.Status, res.ExitCode, tt.wantStatus, tt.wantCode, res.Message)
			}
			if out := string(env.out.Bytes()); !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q, want it to contain %q", out, tt.wantOut)
			}
			if !strings.Contains(res.Message, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", res.Message, tt.wantMsg)
			}
		})
	}
}

// pidsIn reads the pids a shell wrote, one per line.
func pidsIn(tb testing.TB, path string) []int {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			tb.Fatal(err)
		}
		pids = append(pids, p)
	}
	return pids
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// groupScript starts a background child and a foreground sleep, records
// both pids, then prints "ready".
func groupScript(dir string) string {
	return "sleep 300 & echo $! > " + dir + "/pids; echo $$ >> " + dir + "/pids; echo ready; sleep 300"
}

func TestTimeoutKillsGroup(t *testing.T) {
	env := newTestEnv(t)
	res := runStep(t, env, context.Background(), 300*time.Millisecond, jobs.Remote, "run", groupScript(env.dir))
	if res.Status != jobs.TimedOut {
		t.Fatalf("status %s (%s), want TIMED OUT", res.Status, res.Message)
	}
	for _, pid := range pidsIn(t, filepath.Join(env.dir, "pids")) {
		assertGone(t, pid)
	}
}

func TestCancelStops(t *testing.T) {
	env := newTestEnv(t)
	ready := make(chan struct{})
	env.out = jobs.NewTail(&signalWriter{match: "ready", ch: ready})
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan jobs.Result)
	go func() { done <- runStep(t, env, ctx, 0, jobs.Remote, "run", groupScript(env.dir)) }()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the job never said it was ready")
	}
	cancel(jobs.ErrCanceled)
	res := <-done
	if res.Status != jobs.Stopped {
		t.Fatalf("status %s (%s), want STOPPED", res.Status, res.Message)
	}
	for _, pid := range pidsIn(t, filepath.Join(env.dir, "pids")) {
		assertGone(t, pid)
	}
}

// signalWriter closes ch when match appears in what is written.
type signalWriter struct {
	match string
	ch    chan struct{}
	buf   bytes.Buffer
	done  bool
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.match) {
		w.done = true
		close(w.ch)
	}
	return len(p), nil
}

// assertGone checks that a killed process is gone. SIGKILL takes effect
// when the process is next scheduled, so it is given a few seconds.
func assertGone(tb testing.TB, pid int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			tb.Errorf("process %d is still alive", pid)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKillAll kills the whole group of a job that is still running, its
// background child too, as a host does when it shuts down.
func TestKillAll(t *testing.T) {
	env := newTestEnv(t)
	ready := make(chan struct{})
	env.out = jobs.NewTail(&signalWriter{match: "ready", ch: ready})
	done := make(chan jobs.Result)
	go func() { done <- runStep(t, env, context.Background(), 0, jobs.Remote, "run", groupScript(env.dir)) }()
	waitFor(t, ready, "the job never said it was ready")
	if env.procs.Running() != 1 {
		t.Fatalf("Procs holds %d groups for one running job, want 1", env.procs.Running())
	}
	env.procs.KillAll()
	if res := waitResult(t, done); res.Status == jobs.OK {
		t.Errorf("a killed job is OK: %s", res.Message)
	}
	for _, pid := range pidsIn(t, filepath.Join(env.dir, "pids")) {
		assertGone(t, pid)
	}
}

// TestEndedJobHoldsNoGroup: once a job's command has been waited for,
// Procs holds no group for it, so KillAll signals nothing of it: the
// group's number may belong to another process by then. Its background
// child, alive in that group, shows that KillAll leaves it alone (only a
// process that contains its jobs, the agent, kills it when the job ends).
func TestEndedJobHoldsNoGroup(t *testing.T) {
	env := newTestEnv(t)
	// The child's output goes elsewhere, so the job does not wait for
	// the pipe it would hold.
	res := runStep(t, env, context.Background(), 0, jobs.Remote, "run", "sleep 300 >/dev/null 2>&1 & echo $! > "+env.dir+"/pids")
	if res.Status != jobs.OK {
		t.Fatalf("status %s: %s", res.Status, res.Message)
	}
	pid := pidsIn(t, filepath.Join(env.dir, "pids"))[0]
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if n := env.procs.Running(); n != 0 {
		t.Fatalf("Procs holds %d groups after the job ended, want 0", n)
	}
	bystanderSurvivesKillAll(t, env, pid)
}

// TestKillAllSparesOtherGroups: KillAll signals only the groups of the
// jobs it runs, never another process group, here one that no job made,
// as one that reused an ended job's number would be.
func TestKillAllSparesOtherGroups(t *testing.T) {
	env := newTestEnv(t)
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if res := runStep(t, env, context.Background(), 0, jobs.Remote, "run", "true"); res.Status != jobs.OK {
		t.Fatalf("status %s: %s", res.Status, res.Message)
	}
	bystanderSurvivesKillAll(t, env, cmd.Process.Pid)
}

// bystanderSurvivesKillAll calls KillAll while a job runs, and checks that
// pid lives once that job has died of it: KillAll sent its signals, and
// none to pid.
func bystanderSurvivesKillAll(t *testing.T, env *testEnv, pid int) {
	t.Helper()
	ready := make(chan struct{})
	env.out = jobs.NewTail(&signalWriter{match: "ready", ch: ready})
	done := make(chan jobs.Result)
	go func() {
		done <- runStep(t, env, context.Background(), 0, jobs.Remote, "run", "echo ready; exec sleep 300")
	}()
	waitFor(t, ready, "the job never said it was ready")
	env.procs.KillAll()
	waitResult(t, done)
	if !alive(pid) {
		t.Errorf("KillAll killed process %d, which no running job started", pid)
	}
}

func waitFor(tb testing.TB, ch <-chan struct{}, msg string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		tb.Fatal(msg)
	}
}

func waitResult(tb testing.TB, done <-chan jobs.Result) jobs.Result {
	tb.Helper()
	select {
	case res := <-done:
		return res
	case <-time.After(10 * time.Second):
		tb.Fatal("the job did not end")
		return jobs.Result{}
	}
}

type panicky struct{}

func (panicky) Run(context.Context, jobs.Env) jobs.Result { panic("boom") }

func TestExecutePanicIsError(t *testing.T) {
	res := jobs.Execute(context.Background(), panicky{}, newTestEnv(t), 0)
	if res.Status != jobs.Error || !strings.Contains(res.Message, "boom") {
		t.Errorf("got %s %q, want ERROR naming the panic", res.Status, res.Message)
	}
}

func TestTail(t *testing.T) {
	var next bytes.Buffer
	tl := jobs.NewTail(&next)
	big := bytes.Repeat([]byte("x"), jobs.TailSize)
	tl.Write([]byte("head\n"))
	tl.Write(big)
	tl.Write([]byte("end"))
	got := tl.Bytes()
	if !bytes.HasSuffix(got, []byte("xend")) || !bytes.Contains(got, []byte("[... 8 bytes before this]")) {
		t.Errorf("tail = %.60q...%q", got, got[len(got)-10:])
	}
	if next.Len() != 5+jobs.TailSize+3 {
		t.Errorf("next writer got %d bytes, want all %d", next.Len(), 5+jobs.TailSize+3)
	}
}

// testOps are this package's ops, as a program's catalogue holds them.
var testOps = jobs.MustCatalogue(Ops())

// Prepare prepares a job with testOps.
func Prepare(j jobs.Job) (jobs.Action, error) { return testOps.Prepare(j) }
