package main

import (
	"fmt"

	"github.com/concdeploy/conc/internal/durable"
	"github.com/concdeploy/conc/internal/sshtest"
	"github.com/spf13/cobra"
)

// nodeServeOptions are the flags of conc node serve.
type nodeServeOptions struct {
	listen string
	root   string
	write  string
	name   string
}

func (a *app) nodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "the built-in demo node",
	}
	o := &nodeServeOptions{}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "serve a demo node for the current user on loopback, with a ready deploy file section",
		Long: `Serve an SSH node (exec and SFTP) for the current user on a loopback address,
so that conc can be tried with no sshd: commands run as you, with --root/home
as the node's home directory. The host key and a client key are kept in
--root, and a [node NAME] section that reaches the node is written to --write
(or printed), to be layered after your deploy file:

  conc node serve --root .demo --write .demo/node.ini &
  conc -f conc.ini -f .demo/node.ini deploy demo

It serves until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.serveNode(cmd, o)
		},
	}
	f := serve.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free one)")
	f.StringVar(&o.root, "root", ".conc/node", "directory for the node's home, keys and known_hosts")
	f.StringVar(&o.write, "write", "", "write the node's deploy file section to FILE once it listens (default: print it)")
	f.StringVar(&o.name, "name", "demo", "the node's name in the section")
	cmd.AddCommand(serve)
	return cmd
}

func (a *app) serveNode(cmd *cobra.Command, o *nodeServeOptions) error {
	demo, err := sshtest.ServeDemo(o.root, o.listen, o.name)
	if err != nil {
		return usageErr(err)
	}
	defer demo.Close()
	if o.write == "" {
		fmt.Fprint(a.stdout, demo.Section)
	} else if err := durable.WriteFile(o.write, []byte(demo.Section), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "conc: serving node %s on %s, home %s; interrupt to stop\n", o.name, demo.Addr(), demo.Home)
	<-cmd.Context().Done()
	return nil
}
