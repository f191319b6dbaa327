package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"

	"github.com/concdeploy/conc/internal/durable"
	"github.com/concdeploy/conc/internal/sshtest"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
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
	root, err := filepath.Abs(o.root)
	if err != nil {
		return usageErr(err)
	}
	home := filepath.Join(root, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("create the node's home: %w", err)
	}
	hostKey, err := loadOrCreateKey(filepath.Join(root, "host_key"))
	if err != nil {
		return err
	}
	clientKey, err := loadOrCreateKey(filepath.Join(root, "id_ed25519"))
	if err != nil {
		return err
	}
	u, err := user.Current()
	if err != nil {
		return err
	}
	srv, err := sshtest.Listen(sshtest.Config{
		Listen: o.listen, Root: home, User: u.Username,
		HostKey: hostKey, AuthorizedKeys: []ssh.PublicKey{clientKey.PublicKey()},
	})
	if err != nil {
		return usageErr(fmt.Errorf("serve the node: %w", err))
	}
	defer srv.Close()
	addr := srv.Addr()
	kh := filepath.Join(root, "known_hosts")
	if err := sshtest.WriteKnownHosts(kh, addr.String(), hostKey.PublicKey()); err != nil {
		return err
	}
	section := fmt.Sprintf(`; written by conc node serve: a demo node on this machine
[node %s]
sshd.ip = %s
sshd.port = %d
admin = %s
identity = %s
known_hosts = %s
local_bundle = %s
`, o.name, addr.IP, addr.Port, u.Username, filepath.Join(root, "id_ed25519"), kh, filepath.Join(root, "local-bundle"))
	if o.write == "" {
		fmt.Fprint(a.stdout, section)
	} else if err := durable.WriteFile(o.write, []byte(section), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "conc: serving node %s on %s for %s, home %s; interrupt to stop\n", o.name, addr, u.Username, home)
	<-cmd.Context().Done()
	return nil
}

// loadOrCreateKey reads an OpenSSH private key, or makes one, so a node
// served again keeps its host key and its known_hosts line stays valid.
func loadOrCreateKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("read key %s: %w", path, err)
		}
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k, err := sshtest.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := k.WritePrivateKey(path); err != nil {
		return nil, err
	}
	return k.Signer, nil
}
