package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/concdeploy/conc/channel"
)

// The test binary doubles as the agent when asked, so the tests and the
// benchmark run the real main over real pipes, as sshd would start it.
func TestMain(m *testing.M) {
	if os.Getenv("CONC_AGENT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type pipes struct {
	in  *os.File
	out *os.File
}

func (p pipes) Read(b []byte) (int, error)  { return p.out.Read(b) }
func (p pipes) Write(b []byte) (int, error) { return p.in.Write(b) }
func (p pipes) Close() error                { p.in.Close(); return p.out.Close() }

// agentProc is the agent's main in a process of its own, serving a bundle
// it opened in a temporary home.
type agentProc struct {
	cmd    *exec.Cmd
	conn   *channel.Conn
	pipes  pipes // the test's ends of the channel
	home   string
	stderr bytes.Buffer  // read only once exited is closed
	exited chan struct{} // closed when the process has exited
	once   sync.Once
}

// wait bounds the tests' waits for the agent; the agent's own replies
// order the tests, the bound only keeps a broken agent from hanging them.
const wait = 20 * time.Second

// startAgent starts the agent, opens a bundle with it, and stops it when
// the test ends. The pipes are the test's own, not os/exec's, so that
// waiting for the process never closes what the test still reads.
func startAgent(tb testing.TB) *agentProc { return startAgentWith(tb, onStdin) }

// preludeMode is how a test agent is handed its hello.
type preludeMode int

const (
	onStdin  preludeMode = iota // no --prelude: the hello on stdin
	onFD                        // base64 on channel.PreludeFD, as the boot script hands it over
	preEmpty                    // --prelude, the descriptor empty: zsh, its temporary directory full
	preShort                    // --prelude, the base64 cut short: a here-document that half fitted
	preShut                     // --prelude, the descriptor not open: bash before 5.1, its temporary directory full
	preSock                     // --prelude, the descriptor a socket that never ends
)

// startAgentWith is startAgent with the hello handed over as mode says;
// where the prelude is lost, the agent must ask for the hello on stdin.
func startAgentWith(tb testing.TB, mode preludeMode) *agentProc {
	tb.Helper()
	a := &agentProc{home: tb.TempDir(), exited: make(chan struct{})}
	inR, inW, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	a.cmd = exec.Command(os.Args[0])
	a.cmd.Env = append(os.Environ(), "CONC_AGENT_TEST_MAIN=1", "HOME="+a.home)
	a.cmd.Stdin, a.cmd.Stdout, a.cmd.Stderr = inR, outW, &a.stderr
	if mode != onStdin {
		a.cmd.Args = append(a.cmd.Args, "--prelude")
	}
	frame, err := channel.Encode(helloMsg())
	if err != nil {
		tb.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(frame)
	switch mode {
	case onFD:
		a.cmd.ExtraFiles = asPrelude(heredoc(tb, b64+"\n"))
	case preEmpty:
		a.cmd.ExtraFiles = asPrelude(heredoc(tb, ""))
	case preShort:
		a.cmd.ExtraFiles = asPrelude(heredoc(tb, b64[:len(b64)/2]))
	case preSock:
		a.cmd.ExtraFiles = asPrelude(socket(tb))
	}
	if err := a.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	inR.Close()
	outW.Close()
	go func() { a.cmd.Wait(); close(a.exited) }()
	a.pipes = pipes{in: inW, out: outR}
	a.conn = channel.New(a.pipes)
	tb.Cleanup(func() { a.stop(tb) })
	if mode > onFD {
		a.expectLine(tb, channel.PreludeLost)
	}
	if mode != onFD {
		if err := a.conn.Send(helloMsg()); err != nil {
			tb.Fatal(err)
		}
	}
	if m := a.recv(tb); m.Type != channel.TReady || m.Ready.Status != "OK" {
		tb.Fatalf("ready: %+v", m)
	}
	return a
}

func helloMsg() *channel.Message {
	return &channel.Message{Type: channel.THello, Hello: &channel.Hello{
		Version: channel.Version, Node: "n", Bundle: ".conc-bundle", LockMode: channel.LockOpen,
		Lock: &channel.Record{DeployID: "d"},
	}}
}

// heredoc is a file that holds text, open for reading at its start, as
// bash hands over a here-document too large for a pipe.
func heredoc(tb testing.TB, text string) *os.File {
	tb.Helper()
	f, err := os.CreateTemp(tb.TempDir(), "heredoc")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	if _, err := f.WriteString(text); err != nil {
		tb.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		tb.Fatal(err)
	}
	return f
}

// stop closes the channel, which makes the agent kill its jobs and exit,
// and waits for it to exit.
func (a *agentProc) stop(tb testing.TB) {
	tb.Helper()
	a.once.Do(func() { a.stopOnce(tb) })
}

func (a *agentProc) stopOnce(tb testing.TB) {
	tb.Helper()
	a.conn.Close()
	select {
	case <-a.exited:
	case <-time.After(wait):
		a.cmd.Process.Kill()
		tb.Errorf("the agent did not exit when its channel closed")
	}
	if tb.Failed() {
		<-a.exited
		tb.Logf("the agent's stderr:\n%s", a.stderr.String())
	}
}

func (a *agentProc) pid() int { return a.cmd.Process.Pid }

// recv receives the agent's next message.
func (a *agentProc) recv(tb testing.TB) *channel.Message {
	tb.Helper()
	type recvd struct {
		m   *channel.Message
		err error
	}
	ch := make(chan recvd, 1)
	go func() {
		m, err := a.conn.Recv()
		ch <- recvd{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			tb.Fatalf("receive from the agent: %v", r.err)
		}
		return r.m
	case <-time.After(wait):
		tb.Fatal("the agent did not answer")
		return nil
	}
}

// run starts a remote run job with a shell command line.
func (a *agentProc) run(tb testing.TB, id uint32, line string, timeout time.Duration) {
	tb.Helper()
	m := &channel.Message{Type: channel.TRun, Run: &channel.Run{ID: id, Op: "run", Args: []string{line}, Timeout: int64(timeout)}}
	if err := a.conn.Send(m); err != nil {
		tb.Fatal(err)
	}
}

// result waits for the job's result.
func (a *agentProc) result(tb testing.TB) *channel.Result {
	tb.Helper()
	for {
		if m := a.recv(tb); m.Type == channel.TResult {
			return m.Result
		}
	}
}

// escapee is a shell command line that starts a process in a session of
// its own, which writes its pid to pidFile and sleeps, and returns once
// the pid is written. Its output is the job's, so it holds the job's pipe.
func escapee(pidFile string) string {
	return fmt.Sprintf(`setsid sh -c 'echo $$ > %[1]s.tmp && mv %[1]s.tmp %[1]s; exec sleep 300' & `+
		`while [ ! -e %[1]s ]; do sleep 0.01; done`, pidFile)
}

// readPid reads a pid a job wrote.
func readPid(tb testing.TB, path string) int {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("the job's escaped process did not write its pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatal(err)
	}
	return pid
}

// waitFile waits for a job to write path.
func waitFile(tb testing.TB, path string) {
	tb.Helper()
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	tb.Fatalf("%s was not written", path)
}

// assertReaped checks that pid is gone, not even a zombie: the agent
// killed it and, as its subreaper, reaped it.
func assertReaped(tb testing.TB, pid int, when string) {
	tb.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		tb.Errorf("%s, process %d is still there (%v): %s", when, pid, err, procState(pid))
	}
}

// procState is a process's state and parent, from /proc, for messages.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return err.Error()
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return "state " + f[0] + ", parent " + f[1]
}

// TestSetsidChildDiesWithTimedOutJob: a job's process that left its
// process group with setsid is gone once the job is TIMED OUT, and reaped.
func TestSetsidChildDiesWithTimedOutJob(t *testing.T) {
	a := startAgent(t)
	pidFile := filepath.Join(a.home, "escapee.pid")
	a.run(t, 1, escapee(pidFile)+"; sleep 300", 2*time.Second)
	if res := a.result(t); res.Status != "TIMED OUT" {
		t.Fatalf("status %s (%s), want TIMED OUT", res.Status, res.Message)
	}
	assertReaped(t, readPid(t, pidFile), "when the job had TIMED OUT")
}

// TestSetsidChildDiesWithItsJob: what a job leaves running, even in a
// session of its own, is gone when the job ends OK.
func TestSetsidChildDiesWithItsJob(t *testing.T) {
	a := startAgent(t)
	pidFile := filepath.Join(a.home, "escapee.pid")
	a.run(t, 1, escapee(pidFile), 0)
	if res := a.result(t); res.Status != "OK" {
		t.Fatalf("status %s (%s), want OK", res.Status, res.Message)
	}
	assertReaped(t, readPid(t, pidFile), "when the job had ended")
}

// TestSetsidGrandchildDiesWithItsJob: a process that left the job's group
// from under two members of it, which the sweep's group kill is killing
// while it looks, is gone when the job ends, round after round: it may
// still sit under a dying member when the sweep first looks.
func TestSetsidGrandchildDiesWithItsJob(t *testing.T) {
	a := startAgent(t)
	for round := 1; round <= 30; round++ {
		pidFile := filepath.Join(a.home, fmt.Sprintf("escapee-%d.pid", round))
		a.run(t, uint32(round), "( ( "+escapee(pidFile)+"; exec sleep 300 ) & exec sleep 300 ) & "+
			fmt.Sprintf(`while [ ! -e %[1]s ]; do sleep 0.01; done`, pidFile), 0)
		if res := a.result(t); res.Status != "OK" {
			t.Fatalf("round %d: status %s (%s), want OK", round, res.Status, res.Message)
		}
		assertReaped(t, readPid(t, pidFile), fmt.Sprintf("round %d, when the job had ended", round))
	}
}

// TestChannelPipesWidened: the agent widens the pipes it is handed (as
// sshd hands them) to 1 MiB, or to what the kernel allows a user.
func TestChannelPipesWidened(t *testing.T) {
	a := startAgent(t) // the hello is answered: the pipes were taken
	want := pipeSize
	if b, err := os.ReadFile("/proc/sys/fs/pipe-max-size"); err == nil && os.Geteuid() != 0 {
		if max, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			want = min(want, max)
		}
	}
	for name, f := range map[string]*os.File{"stdin": a.pipes.in, "stdout": a.pipes.out} {
		got, err := unix.FcntlInt(f.Fd(), unix.F_GETPIPE_SZ, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got < want {
			t.Errorf("the agent's %s is a pipe of %d bytes, want %d", name, got, want)
		}
	}
}

// TestPrelude: an agent started with --prelude takes the hello from
// file descriptor 3, answers it, and then serves stdin; its jobs do not
// inherit the descriptor.
func TestPrelude(t *testing.T) {
	a := startAgentWith(t, onFD)
	a.run(t, 1, fmt.Sprintf("test ! -e /proc/$$/fd/%d", channel.PreludeFD), 0)
	if res := a.result(t); res.Status != "OK" {
		t.Errorf("a job found the prelude's descriptor open: %s (%s)", res.Status, res.Message)
	}
}

// TestPreludeLost: a prelude that did not arrive whole (empty, cut short,
// a descriptor the shell never opened, or one that never ends) makes the
// agent say so before any frame, take the hello on stdin and serve.
func TestPreludeLost(t *testing.T) {
	for name, mode := range map[string]preludeMode{"empty": preEmpty, "cut short": preShort, "not open": preShut, "a socket": preSock} {
		t.Run(name, func(t *testing.T) {
			a := startAgentWith(t, mode)
			a.run(t, 1, "true", 0)
			if res := a.result(t); res.Status != "OK" {
				t.Fatalf("status %s (%s), want OK", res.Status, res.Message)
			}
			a.stop(t)
			if !strings.Contains(a.stderr.String(), "the hello comes on stdin instead") {
				t.Errorf("the agent's log does not say why it asked for the hello:\n%s", a.stderr.String())
			}
		})
	}
}

// TestReadPrelude: what readPrelude refuses, and why, naming the
// descriptor.
func TestReadPrelude(t *testing.T) {
	for name, c := range map[string]struct {
		f    *os.File
		want string
	}{
		"empty":             {heredoc(t, ""), "is empty"},
		"cut short":         {heredoc(t, "aGVsbG8="), "cut short after 8 bytes"},
		"not frames":        {heredoc(t, "aGVsbG8=\n"), "ends inside a frame"},
		"a frame cut short": {heredoc(t, base64.StdEncoding.EncodeToString([]byte("\x00\x00\x00\x05hell"))+"\n"), "ends inside a frame"},
		"not base64":        {heredoc(t, "%%%\n"), "illegal base64"},
		"too long":          {heredoc(t, strings.Repeat("A", maxPrelude+4)), "longer than"},
		"a socket":          {socket(t), "not a pipe or a file"},
	} {
		t.Run(name, func(t *testing.T) {
			fd, err := unix.Dup(int(c.f.Fd())) // readPrelude closes a prelude
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd) // and nothing else, which may be another's
			_, err = readPrelude(fd)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), fmt.Sprintf("file descriptor %d", fd)) {
				t.Fatalf("error %v, want one naming the descriptor and saying %q", err, c.want)
			}
		})
	}
	two := "\x00\x00\x00\x05hello\x00\x00\x00\x00"
	fd, err := unix.Dup(int(heredoc(t, base64.StdEncoding.EncodeToString([]byte(two))+"\n").Fd()))
	if err != nil {
		t.Fatal(err)
	}
	r, err := readPrelude(fd)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != two {
		t.Fatalf("read %q, want %q", b, two)
	}
}

// asPrelude places f on channel.PreludeFD in an agent started with
// ExtraFiles, which begin at descriptor 3.
func asPrelude(f *os.File) []*os.File {
	files := make([]*os.File, channel.PreludeFD-3+1)
	files[len(files)-1] = f
	return files
}

// socket is one end of a socket pair whose other end stays open: a read
// of it never ends.
func socket(tb testing.TB) *os.File {
	tb.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		tb.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "sock"), os.NewFile(uintptr(fds[1]), "peer")
	tb.Cleanup(func() { a.Close(); b.Close() })
	return a
}

// expectLine reads what the agent writes before any frame: want and a
// newline.
func (a *agentProc) expectLine(tb testing.TB, want string) {
	tb.Helper()
	got := make(chan string, 1)
	go func() {
		b := make([]byte, len(want)+1)
		n, _ := io.ReadFull(a.pipes.out, b)
		got <- string(b[:n])
	}()
	select {
	case line := <-got:
		if line != want+"\n" {
			tb.Fatalf("the agent wrote %q first, want %q", line, want+"\n")
		}
	case <-time.After(wait):
		tb.Fatalf("the agent wrote nothing in %s, want %q", wait, want)
	}
}

// TestSetsidChildDiesWithTheAgent: when the channel closes while a job
// runs, the agent kills all of the job before it exits.
func TestSetsidChildDiesWithTheAgent(t *testing.T) {
	a := startAgent(t)
	pidFile := filepath.Join(a.home, "escapee.pid")
	a.run(t, 1, escapee(pidFile)+"; sleep 300", 0)
	waitFile(t, pidFile)
	a.stop(t)
	assertReaped(t, readPid(t, pidFile), "when the agent had exited")
}

// TestAgentReapsOrphans: the agent is a child subreaper, so a job's
// process whose parent exits becomes the agent's child, and the agent
// reaps it when it exits while the job still runs: no zombie is left.
func TestAgentReapsOrphans(t *testing.T) {
	a := startAgent(t)
	pidFile, goFile := filepath.Join(a.home, "orphan.pid"), filepath.Join(a.home, "go")
	orphan := fmt.Sprintf(`echo $$ > %[1]s.tmp && mv %[1]s.tmp %[1]s; while [ ! -e %[2]s ]; do sleep 0.01; done`, pidFile, goFile)
	a.run(t, 1, fmt.Sprintf(`(setsid sh -c '%s' >/dev/null 2>&1 &); exec sleep 300`, orphan), 0)
	waitFile(t, pidFile)
	pid := readPid(t, pidFile)
	waitParent(t, pid, a.pid())
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(wait); syscall.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the orphan %d was not reaped after it exited: %s", pid, procState(pid))
		}
	}
	a.conn.Send(&channel.Message{Type: channel.TCancel, Cancel: &channel.Cancel{ID: 1}})
	if res := a.result(t); res.Status != "STOPPED" {
		t.Errorf("status %s (%s), want STOPPED", res.Status, res.Message)
	}
}

// waitParent waits for the orphan pid to be re-parented to parent.
func waitParent(tb testing.TB, pid, parent int) {
	tb.Helper()
	want := "parent " + strconv.Itoa(parent)
	for deadline := time.Now().Add(wait); !strings.HasSuffix(procState(pid), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("the orphan %d is not the agent's (%d) child: %s", pid, parent, procState(pid))
		}
	}
}

// BenchmarkPingProcess measures a ping through the agent process over
// pipes: the agent's share of a remote job's round trip, without SSH.
func BenchmarkPingProcess(b *testing.B) {
	a := startAgent(b)
	run := &channel.Message{Type: channel.TRun, Run: &channel.Run{Op: "ping"}}
	for i := 0; b.Loop(); i++ {
		run.Run.ID = uint32(i + 1)
		if err := a.conn.Send(run); err != nil {
			b.Fatal(err)
		}
		if _, err := a.conn.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
