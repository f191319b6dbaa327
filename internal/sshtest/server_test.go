package sshtest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

type fixture struct {
	srv    *Server
	root   string
	user   string
	client *Key
	host   *Key
}

// newFixture starts a server with a fresh home, host key and client key.
// mod, if not nil, may change the config before Listen.
func newFixture(tb testing.TB, mod func(*Config)) *fixture {
	tb.Helper()
	host, err := GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	client, err := GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{root: tb.TempDir(), user: currentUser(tb), client: client, host: host}
	cfg := Config{
		Listen:         "127.0.0.1:0",
		Root:           f.root,
		User:           f.user,
		HostKey:        host.Signer,
		AuthorizedKeys: []ssh.PublicKey{client.PublicKey()},
		Logf:           tb.Logf,
	}
	if mod != nil {
		mod(&cfg)
	}
	f.srv, err = Listen(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := f.srv.Close(); err != nil {
			tb.Error(err)
		}
	})
	return f
}

func currentUser(tb testing.TB) string {
	tb.Helper()
	u, err := user.Current()
	if err != nil {
		tb.Fatal(err)
	}
	return u.Username
}

func (f *fixture) clientConfig(user string, key ssh.Signer) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(f.host.PublicKey()),
		Timeout:         waitTimeout,
	}
}

func (f *fixture) dial(tb testing.TB) *ssh.Client {
	tb.Helper()
	c, err := ssh.Dial("tcp", f.srv.Addr().String(), f.clientConfig(f.user, f.client.Signer))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// newSession opens a session on c and returns it with pipes to its stdin
// and stdout; stderr is collected into the returned buffer.
func newSession(tb testing.TB, c *ssh.Client) (*ssh.Session, io.WriteCloser, *bufio.Reader) {
	tb.Helper()
	sess, err := c.NewSession()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sess.Close() })
	stdin, err := sess.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	return sess, stdin, bufio.NewReader(stdout)
}

// readLine reads one line from r, failing the test after waitTimeout.
func readLine(tb testing.TB, r *bufio.Reader) string {
	tb.Helper()
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		l, err := r.ReadString('\n')
		ch <- result{l, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			tb.Fatalf("read line: %v (got %q)", res.err, res.line)
		}
		return strings.TrimSuffix(res.line, "\n")
	case <-time.After(waitTimeout):
		tb.Fatal("timed out reading a line")
		return ""
	}
}

// within runs f and fails the test if it does not return within
// waitTimeout.
func within(tb testing.TB, what string, f func()) {
	tb.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// readFIFO creates a named pipe at path and returns a function that waits
// (bounded) for a writer and returns everything it wrote.
func readFIFO(tb testing.TB, path string) func() string {
	tb.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		tb.Fatal(err)
	}
	return func() string {
		tb.Helper()
		var b []byte
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			b, err = os.ReadFile(path) // open blocks until a writer opens
		}()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			// Unblock the open so the goroutine ends.
			if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
			<-done
			tb.Fatalf("timed out waiting for a writer on %s", path)
		}
		if err != nil {
			tb.Fatal(err)
		}
		return string(b)
	}
}

func TestListenAddress(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		wantErr bool
	}{
		{"127.0.0.1:0", false},
		{"localhost:0", false},
		{"127.0.0.2:0", false},
		{"0.0.0.0:0", true},
		{":0", true},
		{"192.0.2.1:0", true},
		{"example.com:0", true},
		{"127.0.0.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			s, err := Listen(Config{Listen: tt.addr, Root: t.TempDir(), User: "u", HostKey: key.Signer})
			if err == nil {
				defer s.Close()
				if !s.Addr().IP.IsLoopback() {
					t.Errorf("listening on %s", s.Addr())
				}
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Listen(%q) error = %v, want error %v", tt.addr, err, tt.wantErr)
			}
		})
	}
}

func TestListenConfigErrors(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good := Config{Listen: "127.0.0.1:0", Root: t.TempDir(), User: "u", HostKey: key.Signer}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no user", func(c *Config) { c.User = "" }},
		{"no host key", func(c *Config) { c.HostKey = nil }},
		{"no root", func(c *Config) { c.Root = "" }},
		{"missing root", func(c *Config) { c.Root = filepath.Join(good.Root, "missing") }},
		{"root is a file", func(c *Config) { c.Root = file }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			s, err := Listen(cfg)
			if err == nil {
				s.Close()
				t.Fatal("Listen succeeded")
			}
		})
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t, nil)
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		user   string
		key    ssh.Signer
		wantOK bool
	}{
		{"authorized", f.user, f.client.Signer, true},
		{"wrong user", f.user + "x", f.client.Signer, false},
		{"unknown key", f.user, other.Signer, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ssh.Dial("tcp", f.srv.Addr().String(), f.clientConfig(tt.user, tt.key))
			if err == nil {
				c.Close()
			}
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Fatalf("dial error = %v, want success %v", err, tt.wantOK)
			}
		})
	}
}

func TestExec(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Env = []string{"CONC_EXTRA=extra", "USER=override"} })
	c := f.dial(t)
	tests := []struct {
		name       string
		cmd        string
		stdin      string
		wantStdout string
		wantStderr string // substring of stderr; stderr must be empty if ""
		wantStatus int    // exit status, when wantSignal is empty
		wantSignal string // exit signal
	}{
		{name: "stdout", cmd: "echo hello", wantStdout: "hello\n"},
		{name: "exit status and stderr", cmd: "echo out; echo oops >&2; exit 3", wantStdout: "out\n", wantStderr: "oops\n", wantStatus: 3},
		{name: "stdin", cmd: "tr a-z A-Z", stdin: "abc\n", wantStdout: "ABC\n"},
		{name: "cwd is root", cmd: "pwd", wantStdout: f.root + "\n"},
		{name: "home is root", cmd: `echo "$HOME"`, wantStdout: f.root + "\n"},
		{name: "login name", cmd: `echo "$LOGNAME"`, wantStdout: f.user + "\n"},
		{name: "config env", cmd: `echo "$CONC_EXTRA $USER"`, wantStdout: "extra override\n"},
		{name: "own process group", cmd: `read -r pid comm state ppid pgrp rest </proc/$$/stat; [ "$pgrp" = "$$" ] && echo leader`, wantStdout: "leader\n"},
		{name: "exit signal", cmd: "kill -TERM $$", wantSignal: "TERM"},
		{name: "command not found", cmd: "conc-no-such-command", wantStderr: "not found", wantStatus: 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.cmd, "/proc/") && runtime.GOOS != "linux" {
				t.Skip("needs /proc")
			}
			sess := newClientSession(t, c)
			var stdout, stderr bytes.Buffer
			sess.Stdin = strings.NewReader(tt.stdin)
			sess.Stdout, sess.Stderr = &stdout, &stderr
			var err error
			within(t, "command", func() { err = sess.Run(tt.cmd) })

			gotStatus, gotSignal := 0, ""
			var exitErr *ssh.ExitError
			if errors.As(err, &exitErr) {
				gotStatus, gotSignal = exitErr.ExitStatus(), exitErr.Signal()
			} else if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tt.wantSignal != "" {
				if gotSignal != tt.wantSignal {
					t.Errorf("Run: %v, want signal %s", err, tt.wantSignal)
				}
			} else if gotStatus != tt.wantStatus || gotSignal != "" {
				t.Errorf("Run: %v, want exit status %d", err, tt.wantStatus)
			}
			if got := stdout.String(); got != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", got, tt.wantStdout)
			}
			if got := stderr.String(); !strings.Contains(got, tt.wantStderr) || tt.wantStderr == "" && got != "" {
				t.Errorf("stderr = %q, want %q", got, tt.wantStderr)
			}
		})
	}
}

func TestEnvAndPtyRequestsRefused(t *testing.T) {
	f := newFixture(t, nil)
	c := f.dial(t)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Setenv("CONC_X", "1"); err == nil {
		t.Error("env request accepted")
	}
	if err := sess.RequestPty("xterm", 24, 80, nil); err == nil {
		t.Error("pty-req accepted")
	}
	if ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err != nil || ok {
		t.Errorf("keepalive = %v, %v; want a negative reply", ok, err)
	}
	// The session is still usable.
	out, err := sess.Output(`echo "${CONC_X-unset}"`)
	if err != nil || string(out) != "unset\n" {
		t.Errorf("exec after refused requests = %q, %v", out, err)
	}
}

func TestShell(t *testing.T) {
	f := newFixture(t, nil)
	c := f.dial(t)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var stdout bytes.Buffer
	sess.Stdout = &stdout
	sess.Stdin = strings.NewReader("echo \"$0\"; pwd; exit 4\n")
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	within(t, "shell", func() { err = sess.Wait() })
	var exitErr *ssh.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 4 {
		t.Errorf("Wait = %v, want exit status 4", err)
	}
	if want := "-sh\n" + f.root + "\n"; stdout.String() != want {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
}

func TestSignal(t *testing.T) {
	f := newFixture(t, nil)
	sess, _, stdout := newSession(t, f.dial(t))
	if err := sess.Start(`echo ready; exec cat`); err != nil {
		t.Fatal(err)
	}
	if got := readLine(t, stdout); got != "ready" {
		t.Fatalf("got %q, want ready", got)
	}
	if err := sess.Signal(ssh.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var err error
	within(t, "command", func() { err = sess.Wait() })
	var exitErr *ssh.ExitError
	if !errors.As(err, &exitErr) || exitErr.Signal() != "USR1" {
		t.Errorf("Wait = %v, want exit signal USR1", err)
	}
}

// TestStdinEOF checks that the command sees EOF on stdin however the client
// goes away, and is left running to finish by itself.
func TestStdinEOF(t *testing.T) {
	tests := []struct {
		name string
		drop func(f *fixture, c *ssh.Client, sess *ssh.Session, stdin io.WriteCloser)
	}{
		{"client sends EOF", func(_ *fixture, _ *ssh.Client, _ *ssh.Session, stdin io.WriteCloser) { stdin.Close() }},
		{"client closes channel", func(_ *fixture, _ *ssh.Client, sess *ssh.Session, _ io.WriteCloser) { sess.Close() }},
		{"client closes connection", func(_ *fixture, c *ssh.Client, _ *ssh.Session, _ io.WriteCloser) { c.Close() }},
		{"connections cut", func(f *fixture, _ *ssh.Client, _ *ssh.Session, _ io.WriteCloser) { f.srv.CutConnections() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			c := f.dial(t)
			fifo := filepath.Join(f.root, "fifo")
			read := readFIFO(t, fifo)
			sess, stdin, stdout := newSession(t, c)
			// The command ignores SIGPIPE from its stdout going away and
			// reports through the fifo after stdin EOF.
			if err := sess.Start(`trap '' PIPE; echo ready; cat >/dev/null; echo "eof $$" >fifo`); err != nil {
				t.Fatal(err)
			}
			if got := readLine(t, stdout); got != "ready" {
				t.Fatalf("got %q, want ready", got)
			}
			if _, err := io.WriteString(stdin, "some input\n"); err != nil {
				t.Fatal(err)
			}
			tt.drop(f, c, sess, stdin)
			if got := read(); !strings.HasPrefix(got, "eof ") {
				t.Errorf("fifo got %q, want eof", got)
			}
		})
	}
}

func TestCutConnections(t *testing.T) {
	f := newFixture(t, nil)
	c1, c2 := f.dial(t), f.dial(t)
	f.srv.CutConnections()
	for i, c := range []*ssh.Client{c1, c2} {
		var err error
		within(t, "client to notice", func() { err = c.Wait() })
		if err == nil {
			t.Errorf("client %d: Wait returned nil, want a connection error", i)
		}
		if _, err := c.NewSession(); err == nil {
			t.Errorf("client %d: NewSession on a cut connection succeeded", i)
		}
	}
	// The server keeps listening.
	out, err := newClientSession(t, f.dial(t)).Output("echo again")
	if err != nil || string(out) != "again\n" {
		t.Errorf("after cut: %q, %v", out, err)
	}
}

func newClientSession(tb testing.TB, c *ssh.Client) *ssh.Session {
	tb.Helper()
	sess, err := c.NewSession()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sess.Close() })
	return sess
}

func TestRejectConnections(t *testing.T) {
	f := newFixture(t, nil)
	established := f.dial(t)
	f.srv.SetRejectConnections(true)
	c, err := ssh.Dial("tcp", f.srv.Addr().String(), f.clientConfig(f.user, f.client.Signer))
	if err == nil {
		c.Close()
		t.Fatal("dial succeeded while rejecting")
	}
	if out, err := newClientSession(t, established).Output("echo still"); err != nil || string(out) != "still\n" {
		t.Errorf("established connection: %q, %v", out, err)
	}
	f.srv.SetRejectConnections(false)
	if out, err := newClientSession(t, f.dial(t)).Output("echo back"); err != nil || string(out) != "back\n" {
		t.Errorf("after rejecting: %q, %v", out, err)
	}
}

func TestSFTPRelativePaths(t *testing.T) {
	f := newFixture(t, nil)
	sc, err := sftp.NewClient(f.dial(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	if wd, err := sc.Getwd(); err != nil || wd != f.root {
		t.Errorf("Getwd = %q, %v; want %q", wd, err, f.root)
	}
	if err := sc.MkdirAll("a/b"); err != nil {
		t.Fatal(err)
	}
	w, err := sc.Create("a/b/up.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("uploaded")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(f.root, "a/b/up.txt")); err != nil || string(b) != "uploaded" {
		t.Errorf("file in root = %q, %v", b, err)
	}

	if err := os.WriteFile(filepath.Join(f.root, "down.txt"), []byte("local"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := sc.Open("down.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, err := io.ReadAll(r); err != nil || string(b) != "local" {
		t.Errorf("read down.txt = %q, %v", b, err)
	}
	if err := sc.Rename("down.txt", "a/moved.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "a/moved.txt")); err != nil {
		t.Error(err)
	}
}
