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
// identity file alone when there is one (withAgent adds ssh-agent's keys,
// before it, as ssh does for an ssh_config IdentityFile without
// IdentitiesOnly), else ssh-agent and the usual keys.
func authMethods(identity string, withAgent bool) (methods []ssh.AuthMethod, closer func(), err error) {
	closer = func() {}
	if identity != "" && !withAgent {
		s, err := loadKey(identity)
		if err != nil {
			return nil, closer, err
		}
		return []ssh.AuthMethod{ssh.PublicKeys(s)}, closer, nil
	}
	signers, closer := agentSigners()
	keys := []string{identity}
	if identity == "" {
		home, _ := os.UserHomeDir()
		keys = nil
		for _, name := range defaultKeys {
			keys = append(keys, filepath.Join(home, ".ssh", name))
		}
	}
	var keyErr error
	for _, p := range keys {
		s, err := loadKey(p)
		if errors.Is(err, fs.ErrNotExist) && identity == "" {
			continue
		}
		if err != nil {
			keyErr = err // an encrypted key: ssh-agent is the way to use it
			continue
		}
		signers = append(signers, s)
	}
	if len(signers) == 0 {
		closer()
		if keyErr != nil && identity != "" {
			return nil, func() {}, keyErr
		}
		return nil, func() {}, errors.New("no SSH key: set identity = FILE (or op_key) in the deploy file, or load a key into ssh-agent")
	}
	return []ssh.AuthMethod{ssh.PublicKeys(signers...)}, closer, nil
}

// agentSigners returns ssh-agent's keys, if it runs, and a func that
// closes the connection to it.
func agentSigners() ([]ssh.Signer, func()) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, func() {}
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, func() {}
	}
	signers, _ := agent.NewClient(conn).Signers()
	return signers, func() { conn.Close() }
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
