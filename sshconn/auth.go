package sshconn

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultKeys are tried, after ssh-agent, when the deploy file names no key,
// as OpenSSH would.
var defaultKeys = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// authMethods returns the ways to authenticate as the node's admin: the
// identity file when there is one, else ssh-agent and the usual keys.
func authMethods(identity string) (methods []ssh.AuthMethod, closer func(), err error) {
	closer = func() {}
	if identity != "" {
		s, err := loadKey(identity)
		if err != nil {
			return nil, closer, err
		}
		return []ssh.AuthMethod{ssh.PublicKeys(s)}, closer, nil
	}
	var signers []ssh.Signer
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if conn, err := net.Dial("unix", sock); err == nil {
			closer = func() { conn.Close() }
			if ss, err := agent.NewClient(conn).Signers(); err == nil {
				signers = append(signers, ss...)
			}
		}
	}
	home, _ := os.UserHomeDir()
	for _, name := range defaultKeys {
		p := filepath.Join(home, ".ssh", name)
		s, err := loadKey(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			continue // an encrypted default key: ssh-agent is the way to use it
		}
		signers = append(signers, s)
	}
	if len(signers) == 0 {
		closer()
		return nil, func() {}, errors.New("no SSH key: set identity = FILE (or op_key) in the deploy file, or load a key into ssh-agent")
	}
	return []ssh.AuthMethod{ssh.PublicKeys(signers...)}, closer, nil
}

func loadKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read SSH key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var pp *ssh.PassphraseMissingError
	if errors.As(err, &pp) {
		return nil, fmt.Errorf("SSH key %s has a passphrase: add it to ssh-agent (ssh-add %s) and leave identity unset", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("parse SSH key %s: %w", path, err)
	}
	return s, nil
}
