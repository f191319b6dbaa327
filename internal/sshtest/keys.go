package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Key is an ed25519 key pair usable as an SSH host key or client identity.
type Key struct {
	// Private is the raw private key.
	Private ed25519.PrivateKey
	// Signer signs with Private; use it as Config.HostKey or in ssh.PublicKeys.
	Signer ssh.Signer
}

// GenerateKey returns a new random ed25519 key pair.
func GenerateKey() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("create signer: %w", err)
	}
	return &Key{Private: priv, Signer: signer}, nil
}

// PublicKey returns the public half of k.
func (k *Key) PublicKey() ssh.PublicKey {
	return k.Signer.PublicKey()
}

// WritePrivateKey writes k to path in OpenSSH private key format
// ("-----BEGIN OPENSSH PRIVATE KEY-----"), unencrypted, with mode 0600, as
// ssh -i and sshd HostKey expect.
func (k *Key) WritePrivateKey(path string) error {
	block, err := ssh.MarshalPrivateKey(k.Private, "")
	if err != nil {
		return fmt.Errorf("marshal private key: %w", err)
	}
	if err := writeFile(path, pem.EncodeToMemory(block)); err != nil {
		return fmt.Errorf("write private key: %w", err)
	}
	return nil
}

// WriteAuthorizedKeys writes keys to path in authorized_keys format, one
// line per key, with mode 0600.
func WriteAuthorizedKeys(path string, keys ...ssh.PublicKey) error {
	var b []byte
	for _, k := range keys {
		b = append(b, ssh.MarshalAuthorizedKey(k)...)
	}
	if err := writeFile(path, b); err != nil {
		return fmt.Errorf("write authorized keys: %w", err)
	}
	return nil
}

// KnownHostsLine returns the known_hosts line for a host key served at addr
// ("host:port"), e.g. "[127.0.0.1]:2222 ssh-ed25519 AAAA...". Port 22 is
// written without brackets, as OpenSSH does.
func KnownHostsLine(addr string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
}

// WriteKnownHosts writes a known_hosts file at path holding the single line
// KnownHostsLine(addr, key), with mode 0600.
func WriteKnownHosts(path, addr string, key ssh.PublicKey) error {
	if err := writeFile(path, []byte(KnownHostsLine(addr, key)+"\n")); err != nil {
		return fmt.Errorf("write known hosts: %w", err)
	}
	return nil
}

// writeFile writes b to path with mode 0600, also tightening the mode of an
// existing file (os.WriteFile keeps the old mode).
func writeFile(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
