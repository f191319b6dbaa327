package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// sshOptions are the arguments of conc ssh.
type sshOptions struct {
	node   string
	getenv func(string) string
}

func (a *app) sshCmd() *cobra.Command {
	o := &sshOptions{getenv: os.Getenv}
	return &cobra.Command{
		Use:   "ssh NODE",
		Short: "a login shell on a node, in its bundle when there is one",
		Long: `Log in to NODE with the connection params of the deploy file (admin,
sshd.ip, sshd.port, identity, known_hosts; the host key is verified as for a
deploy) and start the admin's login shell there, in the bundle directory
~/${bundle} when it exists, else in the home directory.

On a terminal the shell gets a terminal on the node too (TERM and the window
size are passed on, and so are size changes). Without one, stdin, stdout and
stderr are wired through, so commands can be piped in. conc ssh exits with
the shell's exit status.`,
		Example: `  conc ssh node1
  printf 'ls -la\ntail -n 20 app.log\n' | conc ssh node1`,
		Args: exactArgs(1, "a node name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.node = args[0]
			return a.runSSH(cmd.Context(), o)
		},
	}
}

// runSSH runs the login shell and returns its exit status as an
// *exitError.
func (a *app) runSSH(ctx context.Context, o *sshOptions) error {
	f, n, err := a.oneNode(o.node)
	if err != nil {
		return err
	}
	conn, err := a.dial(ctx, f, n)
	if err != nil {
		return err
	}
	defer conn.Close()
	sess, err := conn.Client.NewSession()
	if err != nil {
		return fmt.Errorf("open a session on %s: %w", n.Name, err)
	}
	defer sess.Close()
	sess.Stdin, sess.Stdout, sess.Stderr = a.stdin, a.stdout, a.stderr
	if in, ok := a.terminalIn(); ok {
		fd := int(in.Fd())
		restore, err := remoteTerminal(sess, fd, o.getenv("TERM"))
		if err != nil {
			fmt.Fprintf(a.stderr, "conc: %s gives no terminal (%v); the shell runs without one\n", n.Name, err)
		} else {
			defer restore()
		}
	}
	if err := sess.Start(loginCommand(n.Get(config.KeyBundle))); err != nil {
		return fmt.Errorf("start a shell on %s: %w", n.Name, err)
	}
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	return shellExit(n.Name, sess.Wait())
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

// shellExit turns the end of the remote shell into conc's exit: its exit
// status, 128+N for a signal as a shell reports it.
func shellExit(node string, err error) error {
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.Signal() != "":
		code := 255
		if n, ok := signalNumbers[ee.Signal()]; ok {
			code = 128 + int(n)
		}
		return &exitError{code: code, err: fmt.Errorf("the shell on %s was killed by SIG%s", node, ee.Signal())}
	case errors.As(err, &ee):
		return &exitError{code: ee.ExitStatus()}
	case errors.As(err, &missing):
		return fmt.Errorf("the connection to %s ended without the shell's exit status", node)
	}
	return fmt.Errorf("shell on %s: %w", node, err)
}

// signalNumbers are the signals RFC 4254 names in exit-signal.
var signalNumbers = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}
