package sshtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// Demo is the built-in demo node of conc node serve: a Server for the
// current user, its home, keys and known_hosts kept in one directory, so a
// node served again keeps its host key and its known_hosts line stays
// valid.
type Demo struct {
	*Server
	Home string
	// Section is a [node NAME] section of a deploy file that reaches it.
	Section string
}

// ServeDemo serves a demo node named name on listen, a loopback address,
// keeping its state under root.
func ServeDemo(root, listen, name string) (*Demo, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	home := filepath.Join(root, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("create the node's home: %w", err)
	}
	hostKey, err := loadOrCreateKey(filepath.Join(root, "host_key"))
	if err != nil {
		return nil, err
	}
	clientKey, err := loadOrCreateKey(filepath.Join(root, "id_ed25519"))
	if err != nil {
		return nil, err
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	srv, err := Listen(Config{
		Listen: listen, Root: home, User: u.Username,
		HostKey: hostKey, AuthorizedKeys: []ssh.PublicKey{clientKey.PublicKey()},
	})
	if err != nil {
		return nil, fmt.Errorf("serve the node: %w", err)
	}
	addr := srv.Addr()
	kh := filepath.Join(root, "known_hosts")
	if err := WriteKnownHosts(kh, addr.String(), hostKey.PublicKey()); err != nil {
		srv.Close()
		return nil, err
	}
	section := fmt.Sprintf(`; written by conc node serve: a demo node on this machine
[node %s]
sshd.ip = %s
sshd.port = %d
admin = %s
identity = %s
known_hosts = %s
local_bundle = %s
`, name, addr.IP, addr.Port, u.Username, filepath.Join(root, "id_ed25519"), kh, filepath.Join(root, "local-bundle"))
	return &Demo{Server: srv, Home: home, Section: section}, nil
}

// loadOrCreateKey reads an OpenSSH private key, or makes one.
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
	k, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := k.WritePrivateKey(path); err != nil {
		return nil, err
	}
	return k.Signer, nil
}
