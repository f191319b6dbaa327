package sshconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/concdeploy/conc/jobs"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// LoginOptions are what conc ssh gives a login shell on a node.
type LoginOptions struct {
	Dir            string // where the shell starts, relative to the home, when it exists
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TerminalFD     int    // the local terminal, or -1 for none
	Term           string // $TERM for the node's terminal
}

// Login runs the admin's login shell on the node over c, in Dir when it
// exists, with a terminal on the node when there is one here, and returns
// the shell's exit status. It ends with ctx.
func Login(ctx context.Context, c *Conn, o LoginOptions) (int, error) {
	sess, err := c.Client.NewSession()
	if err != nil {
		return 0, fmt.Errorf("open a session on %s: %w", c.Target.Name, err)
	}
	defer sess.Close()
	sess.Stdin, sess.Stdout, sess.Stderr = o.Stdin, o.Stdout, o.Stderr
	if o.TerminalFD >= 0 {
		restore, err := remoteTerminal(sess, o.TerminalFD, o.Term)
		if err != nil {
			fmt.Fprintf(o.Stderr, "conc: %s gives no terminal (%v); the shell runs without one\n", c.Target.Name, err)
		} else {
			defer restore()
		}
	}
	if err := sess.Start(loginCommand(o.Dir)); err != nil {
		return 0, fmt.Errorf("start a shell on %s: %w", c.Target.Name, err)
	}
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	return shellExit(c.Target.Name, sess.Wait(), o.Stderr)
}

// loginCommand is the remote command of conc ssh: the admin's login
// shell, started in the bundle when there is one. The bundle's name is the
// only data in it, quoted by jobs.Quote.
func loginCommand(bundleDir string) string {
	return "cd -- " + jobs.Quote(bundleDir) + ` 2>/dev/null; exec "${SHELL:-/bin/sh}" -l`
}

// remoteTerminal asks for a terminal on the node the size of the local
// one, puts the local terminal in raw mode and forwards size changes. The
// returned func stops forwarding and restores the terminal.
func remoteTerminal(sess *ssh.Session, fd int, termName string) (func(), error) {
	w, h, err := term.GetSize(fd)
	if err != nil || w <= 0 || h <= 0 {
		w, h = 80, 24
	}
	if termName == "" {
		termName = "xterm"
	}
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 14400, ssh.TTY_OP_OSPEED: 14400}
	if err := sess.RequestPty(termName, h, w, modes); err != nil {
		return nil, err
	}
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("put the terminal in raw mode: %w", err)
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-winch:
				if w, h, err := term.GetSize(fd); err == nil {
					sess.WindowChange(h, w)
				}
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		wg.Wait()
		term.Restore(fd, old)
	}, nil
}

// shellExit turns the end of the remote shell into its exit status, as a
// shell reports it: 128+N for a signal, with a word on stderr.
func shellExit(node string, err error, stderr io.Writer) (int, error) {
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee) && ee.Signal() != "":
		code := 255
		if n, ok := signalNumbers[ee.Signal()]; ok {
			code = 128 + int(n)
		}
		fmt.Fprintf(stderr, "conc: the shell on %s was killed by SIG%s\n", node, ee.Signal())
		return code, nil
	case errors.As(err, &ee):
		return ee.ExitStatus(), nil
	case errors.As(err, &missing):
		return 0, fmt.Errorf("the connection to %s ended without the shell's exit status", node)
	}
	return 0, fmt.Errorf("shell on %s: %w", node, err)
}

// signalNumbers are the signals RFC 4254 names in exit-signal.
var signalNumbers = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}
