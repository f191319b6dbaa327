package sshtest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// signals maps the RFC 4254 signal names to signals, for "signal" requests
// and "exit-signal" messages.
var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT,
	"ALRM": syscall.SIGALRM,
	"FPE":  syscall.SIGFPE,
	"HUP":  syscall.SIGHUP,
	"ILL":  syscall.SIGILL,
	"INT":  syscall.SIGINT,
	"KILL": syscall.SIGKILL,
	"PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT,
	"SEGV": syscall.SIGSEGV,
	"TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// signalName returns the RFC 4254 name of sig, or "SIG@openssh.com" for
// signals without one, as sshd does.
func signalName(sig syscall.Signal) string {
	for name, s := range signals {
		if s == sig {
			return name
		}
	}
	return "SIG@openssh.com"
}

// handleSession serves one "session" channel: it answers channel requests
// until the channel is closed, starting at most one command, shell or
// subsystem.
func (s *Server) handleSession(nc ssh.NewChannel) {
	defer s.wg.Done()
	ch, reqs, err := nc.Accept()
	if err != nil {
		s.logf("accept session channel: %v", err)
		return
	}
	var (
		started bool
		proc    *process
	)
	for req := range reqs {
		var (
			ok  bool
			run func()
		)
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if started || ssh.Unmarshal(req.Payload, &p) != nil {
				break
			}
			if s.cfg.OnExec != nil {
				s.cfg.OnExec(p.Command)
			}
			proc, err = s.startCommand(ch, exec.Command("/bin/sh", "-c", p.Command))
			if err != nil {
				s.logf("exec %q: %v", p.Command, err)
				break
			}
			s.logf("exec %q: pid %d", p.Command, proc.cmd.Process.Pid)
			ok, run = true, proc.run
		case "shell":
			if started {
				break
			}
			// argv[0] "-sh" makes it a login shell, as sshd does.
			cmd := exec.Command("/bin/sh")
			cmd.Args[0] = "-sh"
			proc, err = s.startCommand(ch, cmd)
			if err != nil {
				s.logf("shell: %v", err)
				break
			}
			ok, run = true, proc.run
		case "subsystem":
			var p struct{ Name string }
			if started || ssh.Unmarshal(req.Payload, &p) != nil || p.Name != "sftp" {
				break
			}
			ok, run = true, func() { s.serveSFTP(ch) }
		case "signal":
			var p struct{ Signal string }
			if proc == nil || ssh.Unmarshal(req.Payload, &p) != nil {
				break
			}
			if sig, known := signals[p.Signal]; known {
				ok = proc.signal(sig) == nil
			}
		}
		// Everything else (env, pty-req, x11-req, auth-agent-req@openssh.com,
		// window-change, keepalive@openssh.com...) is refused.
		if req.WantReply {
			req.Reply(ok, nil)
		}
		if run != nil {
			started = true
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				run()
			}()
		}
	}
}

// serveSFTP runs an SFTP server on ch until the client closes it.
func (s *Server) serveSFTP(ch ssh.Channel) {
	defer ch.Close()
	srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.cfg.Root))
	if err != nil {
		s.logf("sftp: %v", err)
		return
	}
	status := uint32(0)
	if err := srv.Serve(); err != nil {
		s.logf("sftp: %v", err)
		status = 1
	}
	srv.Close()
	sendExitStatus(ch, status)
}

func sendExitStatus(ch ssh.Channel, status uint32) {
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
}

// process is a command started for a session.
type process struct {
	s      *Server
	ch     ssh.Channel
	cmd    *exec.Cmd
	stdin  *os.File // write end of the child's stdin
	stdout *os.File // read end of the child's stdout
	stderr *os.File // read end of the child's stderr
}

// startCommand starts cmd in the node's home, in its own process group, with
// pipes for stdin, stdout and stderr, and registers it for Close.
func (s *Server) startCommand(ch ssh.Channel, cmd *exec.Cmd) (*process, error) {
	cmd.Dir = s.cfg.Root
	cmd.Env = s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	var files []*os.File // every pipe end, closed on error
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return nil, fmt.Errorf("create stdin pipe: %w", err)
	}
	outR, outW, err := pipe()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("create stdout pipe: %w", err)
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("create stderr pipe: %w", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	inR.Close()
	outW.Close()
	errW.Close()

	p := &process{s: s, ch: ch, cmd: cmd, stdin: inW, stdout: outR, stderr: errR}
	s.mu.Lock()
	s.procs[p] = struct{}{}
	if s.closed {
		p.kill()
	}
	s.mu.Unlock()
	return p, nil
}

// run wires the process to the channel and reports its exit. Like sshd, it
// closes the child's stdin when the client sends EOF, closes the channel or
// the connection drops, but leaves the child running; once the child has
// exited and its output is drained it sends EOF, exit-status or exit-signal,
// and closes the channel.
func (p *process) run() {
	s, ch := p.s, p.ch
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		io.Copy(p.stdin, ch)
		p.stdin.Close()
		// The child stopped reading: discard further input so the client
		// does not block on a full window.
		io.Copy(io.Discard, ch)
	}()

	var out sync.WaitGroup
	copyOut := func(w io.Writer, r *os.File) {
		defer s.wg.Done()
		defer out.Done()
		io.Copy(w, r)
		// If the client is gone the child gets EPIPE/SIGPIPE on its next
		// write, as with sshd.
		r.Close()
	}
	out.Add(2)
	s.wg.Add(2)
	go copyOut(ch, p.stdout)
	go copyOut(ch.Stderr(), p.stderr)
	out.Wait()

	err := p.wait()
	ch.CloseWrite()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		sendExitStatus(ch, 0)
	case errors.As(err, &exitErr):
		ws, _ := exitErr.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Error      string
				Lang       string
			}{Signal: signalName(ws.Signal()), CoreDumped: ws.CoreDump()}))
		} else {
			sendExitStatus(ch, uint32(ws.ExitStatus()))
		}
	default:
		s.logf("wait for pid %d: %v", p.cmd.Process.Pid, err)
		sendExitStatus(ch, 255)
	}
	ch.Close()
}

// wait waits for the process to exit and unregisters it before reaping it,
// so that Close never signals a process group whose id may have been reused.
func (p *process) wait() error {
	if err := waitExited(p.cmd.Process.Pid); err != nil {
		p.s.logf("wait for pid %d: %v", p.cmd.Process.Pid, err)
	}
	p.s.mu.Lock()
	delete(p.s.procs, p)
	p.s.mu.Unlock()
	return p.cmd.Wait()
}

// signal sends sig to the process group, as sshd's killpg does.
func (p *process) signal(sig syscall.Signal) error {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if _, ok := p.s.procs[p]; !ok {
		return errors.New("process exited")
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// kill kills the process group and closes the server's pipe ends, so that
// copies blocked on descendants that left the group end too. The caller
// holds s.mu.
func (p *process) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.stdin.Close()
	p.stdout.Close()
	p.stderr.Close()
}
