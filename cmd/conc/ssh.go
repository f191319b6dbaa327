package main

import (
	"context"
	"os"

	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/sshconn"
	"github.com/spf13/cobra"
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
sshd.ip, sshd.port, identity, known_hosts), ssh_config and jump hosts applied
as for a deploy, every host key verified, and start the admin's login shell
there, in the bundle directory ~/${bundle} when it exists, else in the home
directory.

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
	lo := sshconn.LoginOptions{Dir: n.Get(config.KeyBundle), Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr, Term: o.getenv("TERM"), TerminalFD: -1}
	if in, ok := a.terminalIn(); ok {
		lo.TerminalFD = int(in.Fd())
	}
	status, err := sshconn.Login(ctx, conn, lo)
	if err != nil {
		return err
	}
	if status != 0 {
		return &exitError{code: status}
	}
	return nil
}
