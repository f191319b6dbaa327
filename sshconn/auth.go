package sshconn

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultKeys are tried, after ssh-agent, when the deploy file names no key,
// as OpenSSH would.
var defaultKeys = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// auth is how conc logs in to one host: the methods, what they offer (for
// an error that names the keys tried), and the ssh-agent connection to
// close after.
type auth struct {
	methods []ssh.AuthMethod
	signers []ssh.Signer
	tried   []string // "KEYTYPE SHA256:... from FILE", or "... from ssh-agent"
	close   func()
}

// authMethods returns the ways to authenticate as the node's admin: the
// identity file alone when there is one (withAgent adds ssh-agent's keys,
// before it, as ssh does for an ssh_config IdentityFile without
// IdentitiesOnly), else ssh-agent and the usual keys. An identity with a
// passphrase is used through ssh-agent when ssh-agent holds it.
func authMethods(identity string, withAgent bool) (a auth, err error) {
	a.close = func() {}
	if identity != "" && !withAgent {
		s, from, closer, err := identityKey(identity)
		if err != nil {
			return a, err
		}
		a.close = closer
		a.add(s, from)
		return a, nil
	}
	signers, closer := agentSigners()
	a.close = closer
	for _, s := range signers {
		a.add(s, "ssh-agent")
	}
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
		a.add(s, p)
	}
	if len(a.tried) == 0 {
		a.close()
		if keyErr != nil && identity != "" {
			return auth{close: func() {}}, keyErr
		}
		return auth{close: func() {}}, errors.New("no SSH key: set identity = FILE (or op_key) in the deploy file, or load a key into ssh-agent")
	}
	return a, nil
}

// add offers s, and notes it for errors.
func (a *auth) add(s ssh.Signer, from string) {
	if len(a.methods) == 0 {
		a.methods = []ssh.AuthMethod{nil}
	}
	a.tried = append(a.tried, fmt.Sprintf("%s %s from %s", s.PublicKey().Type(), ssh.FingerprintSHA256(s.PublicKey()), from))
	a.signers = append(a.signers, s)
	a.methods[0] = ssh.PublicKeys(a.signers...)
}

// identityKey loads the identity file, or, when it has a passphrase, finds
// the same key in ssh-agent.
func identityKey(path string) (ssh.Signer, string, func(), error) {
	s, err := loadKey(path)
	var pp *ssh.PassphraseMissingError
	if !errors.As(err, &pp) || pp.PublicKey == nil {
		return s, path, func() {}, err
	}
	signers, closer := agentSigners()
	want := pp.PublicKey.Marshal()
	for _, s := range signers {
		if bytes.Equal(s.PublicKey().Marshal(), want) {
			return s, "ssh-agent (" + path + ")", closer, nil
		}
	}
	closer()
	return nil, "", nil, fmt.Errorf("SSH key %s has a passphrase, and ssh-agent does not hold it: add it (ssh-add %s), then run again", path, path)
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
		return nil, fmt.Errorf("SSH key %s has a passphrase: add it to ssh-agent (ssh-add %s): %w", path, path, pp)
	}
	if err != nil {
		return nil, fmt.Errorf("parse SSH key %s: %w", path, err)
	}
	return s, nil
}

// AuthError is a login the node refused: it names the user and every key
// offered, and where each came from.
type AuthError struct {
	Host, User string
	Tried      []string
	Err        error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s refused to log in %s with the key(s) offered: %s. Check the user (admin =, or ssh_config's User), and that one of these keys is in %s's ~/.ssh/authorized_keys on %s (%v)",
		e.Host, e.User, strings.Join(e.Tried, "; "), e.User, e.Host, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// isAuthRefused reports whether a handshake failed at authentication.
func isAuthRefused(err error) bool {
	return err != nil && strings.Contains(err.Error(), "unable to authenticate")
}
