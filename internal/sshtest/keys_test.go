package sshtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestWritePrivateKey(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	// An existing, more open file is tightened.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := k.WritePrivateKey(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
		t.Errorf("not an OpenSSH private key: %.40q", b)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(signer.PublicKey().Marshal(), k.PublicKey().Marshal()) {
		t.Error("written key differs")
	}
}

func TestWriteAuthorizedKeys(t *testing.T) {
	var keys []ssh.PublicKey
	for range 2 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.PublicKey())
	}
	path := filepath.Join(t.TempDir(), "authorized_keys")
	if err := WriteAuthorizedKeys(path, keys...); err != nil {
		t.Fatal(err)
	}
	rest, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range keys {
		var got ssh.PublicKey
		got, _, _, rest, err = ssh.ParseAuthorizedKey(rest)
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		if !bytes.Equal(got.Marshal(), want.Marshal()) {
			t.Errorf("key %d differs", i)
		}
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("trailing data %q", rest)
	}
}

func TestKnownHosts(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr       string
		wantPrefix string
	}{
		{"127.0.0.1:2222", "[127.0.0.1]:2222 ssh-ed25519 "},
		{"127.0.0.1:22", "127.0.0.1 ssh-ed25519 "},
		{"[::1]:2222", "[::1]:2222 ssh-ed25519 "},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if line := KnownHostsLine(tt.addr, k.PublicKey()); !strings.HasPrefix(line, tt.wantPrefix) {
				t.Errorf("KnownHostsLine = %q, want prefix %q", line, tt.wantPrefix)
			}
			path := filepath.Join(t.TempDir(), "known_hosts")
			if err := WriteKnownHosts(path, tt.addr, k.PublicKey()); err != nil {
				t.Fatal(err)
			}
			callback, err := knownhosts.New(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := callback(tt.addr, fakeAddr(tt.addr), k.PublicKey()); err != nil {
				t.Errorf("known_hosts does not accept the key: %v", err)
			}
			other, err := GenerateKey()
			if err != nil {
				t.Fatal(err)
			}
			if err := callback(tt.addr, fakeAddr(tt.addr), other.PublicKey()); err == nil {
				t.Error("known_hosts accepts another key")
			}
		})
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
