package testnode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// run runs cmd in a new session on c and returns its output and exit status.
func run(tb testing.TB, c *ssh.Client, cmd string) (stdout, stderr string, status int) {
	tb.Helper()
	sess, err := c.NewSession()
	if err != nil {
		tb.Fatal(err)
	}
	defer sess.Close()
	var out, errOut bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errOut
	within(tb, "command "+cmd, func() { err = sess.Run(cmd) })
	var exitErr *ssh.ExitError
	switch {
	case errors.As(err, &exitErr):
		status = exitErr.ExitStatus()
	case err != nil:
		tb.Fatalf("run %q: %v", cmd, err)
	}
	return out.String(), errOut.String(), status
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

// readLine reads one line from r, failing the test after waitTimeout.
func readLine(tb testing.TB, r *bufio.Reader) string {
	tb.Helper()
	var line string
	var err error
	within(tb, "a line of output", func() { line, err = r.ReadString('\n') })
	if err != nil {
		tb.Fatalf("read line: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
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
			if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
				w.Close() // unblock the reader
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

func TestExec(t *testing.T) {
	Both(t, func(t *testing.T, n *Node) {
		c := n.Dial(t)
		tests := []struct {
			cmd        string
			wantStdout string
			wantStderr string
			wantStatus int
		}{
			{`echo "$HOME"`, n.Home + "\n", "", 0},
			{`pwd`, n.Home + "\n", "", 0},
			{`echo "$USER"`, n.User + "\n", "", 0},
			{`echo out; echo err >&2; exit 3`, "out\n", "err\n", 3},
			{`cd && pwd`, n.Home + "\n", "", 0},
		}
		for _, tt := range tests {
			stdout, stderr, status := run(t, c, tt.cmd)
			if stdout != tt.wantStdout || stderr != tt.wantStderr || status != tt.wantStatus {
				t.Errorf("%s: stdout %q, stderr %q, status %d; want %q, %q, %d",
					tt.cmd, stdout, stderr, status, tt.wantStdout, tt.wantStderr, tt.wantStatus)
			}
		}
	})
}

func TestSFTPInHome(t *testing.T) {
	Both(t, func(t *testing.T, n *Node) {
		c := n.Dial(t)
		sc, err := sftp.NewClient(c)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		if wd, err := sc.Getwd(); err != nil || wd != n.Home {
			t.Errorf("Getwd = %q, %v; want %q", wd, err, n.Home)
		}
		if err := sc.MkdirAll("dir"); err != nil {
			t.Fatal(err)
		}
		w, err := sc.Create("dir/up.txt")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, "uploaded\n"); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(n.Home, "dir/up.txt")); err != nil || string(b) != "uploaded\n" {
			t.Errorf("uploaded file in home = %q, %v", b, err)
		}
		// Commands see the same relative paths as SFTP.
		if out, _, status := run(t, c, "cat dir/up.txt"); out != "uploaded\n" || status != 0 {
			t.Errorf("cat dir/up.txt = %q, status %d", out, status)
		}
		if _, _, status := run(t, c, "echo made > made.txt"); status != 0 {
			t.Fatalf("status %d", status)
		}
		r, err := sc.Open("made.txt")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if b, err := io.ReadAll(r); err != nil || string(b) != "made\n" {
			t.Errorf("read made.txt over sftp = %q, %v", b, err)
		}
	})
}

func TestFiles(t *testing.T) {
	Both(t, func(t *testing.T, n *Node) {
		fi, err := os.Stat(n.Identity)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("identity mode %v, want 0600", fi.Mode().Perm())
		}
		b, err := os.ReadFile(n.Identity)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
			t.Errorf("identity is not in OpenSSH format: %.40q", b)
		}
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			t.Fatal(err)
		}

		kh, err := os.ReadFile(n.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		if prefix := fmt.Sprintf("[127.0.0.1]:%d ssh-ed25519 ", n.Port); !strings.HasPrefix(string(kh), prefix) {
			t.Errorf("known_hosts = %q, want prefix %q", kh, prefix)
		}
		callback, err := knownhosts.New(n.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		// Log in with nothing but the two files.
		c, err := ssh.Dial("tcp", n.Addr(), &ssh.ClientConfig{
			User:            n.User,
			Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: callback,
			Timeout:         waitTimeout,
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
}

// TestStdinEOF checks that a command sees EOF on stdin when its client goes
// away in any way, and is left running to finish by itself.
func TestStdinEOF(t *testing.T) {
	Both(t, func(t *testing.T, n *Node) {
		tests := []struct {
			name string
			drop func(c *ssh.Client, sess *ssh.Session)
		}{
			{"close channel", func(_ *ssh.Client, sess *ssh.Session) { sess.Close() }},
			{"close connection", func(c *ssh.Client, _ *ssh.Session) { c.Close() }},
			{"cut", func(*ssh.Client, *ssh.Session) { n.Cut() }},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := n.Dial(t)
				fifo := fmt.Sprintf("fifo%d", i)
				read := readFIFO(t, filepath.Join(n.Home, fifo))
				sess, err := c.NewSession()
				if err != nil {
					t.Fatal(err)
				}
				defer sess.Close()
				stdin, err := sess.StdinPipe()
				if err != nil {
					t.Fatal(err)
				}
				stdoutPipe, err := sess.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				stdout := bufio.NewReader(stdoutPipe)
				if err := sess.Start(`trap '' PIPE; echo ready; cat >/dev/null; echo "eof after input" >` + fifo); err != nil {
					t.Fatal(err)
				}
				if got := readLine(t, stdout); got != "ready" {
					t.Fatalf("got %q, want ready", got)
				}
				if _, err := io.WriteString(stdin, "input\n"); err != nil {
					t.Fatal(err)
				}
				tt.drop(c, sess)
				if got := read(); got != "eof after input\n" {
					t.Errorf("fifo got %q", got)
				}
			})
		}
	})
}

func TestCut(t *testing.T) {
	Both(t, func(t *testing.T, n *Node) {
		c1, c2 := n.Dial(t), n.Dial(t)
		n.Cut()
		for i, c := range []*ssh.Client{c1, c2} {
			var err error
			within(t, "the client to notice", func() { err = c.Wait() })
			if err == nil {
				t.Errorf("client %d: Wait returned nil, want a connection error", i)
			}
		}
		if out, _, _ := run(t, n.Dial(t), "echo again"); out != "again\n" {
			t.Errorf("after Cut: %q", out)
		}
	})
}

// TestOpenSSHClient runs OpenSSH's ssh command with Node.SSHOptions.
func TestOpenSSHClient(t *testing.T) {
	sshPath, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("ssh client not installed")
	}
	Both(t, func(t *testing.T, n *Node) {
		args := append(n.SSHOptions(), n.User+"@"+n.Host, `echo "$HOME"; pwd; exit 5`)
		cmd := exec.Command(sshPath, args...)
		cmd.Stdin = nil
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		var out []byte
		within(t, "ssh", func() { out, err = cmd.Output() })
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 5 {
			t.Errorf("ssh: %v, want exit status 5; stderr:\n%s", err, stderr.String())
		}
		if want := n.Home + "\n" + n.Home + "\n"; string(out) != want {
			t.Errorf("ssh output %q, want %q", out, want)
		}
	})
}

// TestSSHFS mounts a directory of the node's home with sshfs, addressed
// relative to the home as users do.
func TestSSHFS(t *testing.T) {
	sshfs, err := exec.LookPath("sshfs")
	if err != nil {
		t.Skip("sshfs not installed")
	}
	fusermount, err := exec.LookPath("fusermount3")
	if err != nil {
		if fusermount, err = exec.LookPath("fusermount"); err != nil {
			t.Skip("fusermount not installed")
		}
	}
	if f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err != nil {
		t.Skipf("no usable /dev/fuse: %v", err)
	} else {
		f.Close()
	}
	Both(t, func(t *testing.T, n *Node) {
		if err := os.Mkdir(filepath.Join(n.Home, "share"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(n.Home, "share/remote.txt"), []byte("remote\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		mnt := t.TempDir()
		args := append(n.SSHOptions(), n.User+"@"+n.Host+":share", mnt)
		var out []byte
		within(t, "sshfs", func() { out, err = exec.Command(sshfs, args...).CombinedOutput() })
		if err != nil {
			t.Fatalf("sshfs: %v\n%s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command(fusermount, "-u", mnt).CombinedOutput(); err != nil {
				t.Errorf("unmount %s: %v\n%s", mnt, err, out)
			}
		})
		if b, err := os.ReadFile(filepath.Join(mnt, "remote.txt")); err != nil || string(b) != "remote\n" {
			t.Errorf("read through sshfs = %q, %v", b, err)
		}
		if err := os.WriteFile(filepath.Join(mnt, "local.txt"), []byte("local\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(n.Home, "share/local.txt")); err != nil || string(b) != "local\n" {
			t.Errorf("written through sshfs = %q, %v", b, err)
		}
	})
}

// TestOpenSSHCleanup checks that the end of a test kills sshd, its
// per-connection processes and the commands they run.
func TestOpenSSHCleanup(t *testing.T) {
	var pids []int
	t.Run("node", func(t *testing.T) {
		n := OpenSSH(t)
		sess, err := n.Dial(t).NewSession()
		if err != nil {
			t.Fatal(err)
		}
		// Stdin stays open: the command never exits by itself.
		if _, err := sess.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		stdout, err := sess.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.Start(`echo $$; exec cat`); err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(readLine(t, bufio.NewReader(stdout)))
		if err != nil {
			t.Fatal(err)
		}
		desc, err := descendants(n.sshdPID)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, n.sshdPID, pid)
		for _, d := range desc {
			pids = append(pids, d.pid)
		}
		if len(desc) < 2 {
			t.Errorf("sshd has %d descendants, want a session process and the command", len(desc))
		}
	})
	for _, pid := range pids {
		if err := waitExit(pid, waitTimeout); err != nil {
			t.Error(err)
		}
	}
}

// TestOpenSSHParallel starts several sshd at once, exercising port picking.
func TestOpenSSHParallel(t *testing.T) {
	for i := range 4 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			n := OpenSSH(t)
			if out, _, _ := run(t, n.Dial(t), "echo ok"); out != "ok\n" {
				t.Errorf("got %q", out)
			}
		})
	}
}

func TestRequireSSHD(t *testing.T) {
	p := RequireSSHD(t)
	if !filepath.IsAbs(p) {
		t.Errorf("RequireSSHD = %q, want an absolute path", p)
	}
	if v := sshdVersion(p); v < 100 {
		t.Errorf("sshdVersion(%s) = %d", p, v)
	}
}
