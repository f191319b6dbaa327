package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/concdeploy/conc/bundleshell"
	"github.com/concdeploy/conc/config"
	"github.com/spf13/cobra"
)

// bundleOptions are the arguments of conc bundle.
type bundleOptions struct {
	node    string
	args    []string // a command to run on its own; none for the shell
	getenv  func(string) string
	tempDir string // where edit keeps its local copy; "" for the system's
}

func (a *app) bundleCmd() *cobra.Command {
	o := &bundleOptions{getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:   "bundle NODE [ls|get|put|rm|cat|mkdir|edit ARG...]",
		Short: "an SFTP shell in a node's bundle, to inspect and fix a stopped run by hand",
		Long: `Open an SFTP shell rooted at the bundle of NODE (~/${bundle} on the node), or
run one of its commands and exit. It works whether or not a run is stopped
there, and changes nothing but what its commands do: a node without a bundle
is not locked, and conc bundle does not create one.

Commands:
  ls [PATH]              mode, size, modification time and name; dirs end in /
  cd [DIR], pwd          / is the top of the bundle
  get REMOTE [LOCAL]     copy a file to this machine
  put LOCAL [REMOTE]     copy a file in, keeping its mode; the old file is
                         replaced atomically (temporary name, then rename)
  rm [-r] PATH           remove a file or symlink; -r removes a directory tree
  mkdir DIR              make a directory
  cat PATH               print a file
  edit PATH              edit a copy with $VISUAL, $EDITOR or vi; it is written
                         back atomically if it changed (a new file is 0600)
  help, exit             (quit and Ctrl-D also leave)

Words are split like shell words, so quote names with spaces. Every path must
stay inside the bundle: ".." beyond its top, absolute paths elsewhere and
symlinks that lead out (such as .conc-agent, the link to the agent cache) are
refused. Commands are read line by line, so a script can be piped in; the
prompt shows only on a terminal, where Up and Down recall earlier lines, Tab
completes commands and paths (a second Tab lists the choices) and Ctrl-D or
Ctrl-C at the prompt leaves. A failed command prints an error and the
shell goes on; a piped script then exits 1 at its end, and a command given
on the command line exits 1 at once.`,
		Example: `  conc bundle node1
  conc bundle node1 ls venv/bin
  conc bundle node1 get .conc-lock.json
  conc bundle node1 put fixed.cfg app/app.cfg
  conc bundle node1 edit app/app.cfg
  printf 'cd app\nrm -r cache\nls\n' | conc bundle node1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr(fmt.Errorf("bundle needs a node (conc bundle NODE [COMMAND ARG...])"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.node, o.args = args[0], args[1:]
			return a.runBundle(cmd.Context(), o)
		},
	}
	// Flags after NODE belong to the command: conc bundle node1 rm -r dir.
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// runBundle connects to the node and runs the shell, or one command.
func (a *app) runBundle(ctx context.Context, o *bundleOptions) error {
	if len(o.args) > 0 {
		if err := bundleshell.CheckCommand(o.args, true); err != nil {
			return usageErr(err)
		}
	}
	f, n, err := a.oneNode(o.node)
	if err != nil {
		return err
	}
	conn, err := a.dial(ctx, f, n)
	if err != nil {
		return err
	}
	defer conn.Close()
	c, err := conn.SFTP()
	if err != nil {
		return err
	}
	tty, isTerm := a.terminalIn()
	// The editor gets the terminal; a script's stdin holds the commands.
	var editorIn io.Reader
	if isTerm {
		editorIn = a.stdin
	}
	sh, err := bundleshell.New(c, bundleshell.Config{
		Node: n.Name, Bundle: n.Get(config.KeyBundle),
		Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr, Prompt: isTerm, Terminal: tty,
		Edit:    bundleshell.EditorRunner(o.getenv, editorIn, a.stdout, a.stderr),
		TempDir: o.tempDir,
	})
	if err != nil {
		return err
	}
	if len(o.args) > 0 {
		return sh.Exec(ctx, o.args)
	}
	return sh.Run(ctx)
}
