package sshconn

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func edKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHostKeys(t *testing.T) {
	const addr = "127.0.0.1:2222"
	known, other := edKey(t), edKey(t)
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, known) + "\n"
	tests := []struct {
		name      string
		file      string // known_hosts content; "-" for no file
		acceptNew bool
		key       ssh.PublicKey
		wantErr   error
		recorded  bool
	}{
		{"known", line, false, known, nil, false},
		{"unknown refused", "", false, other, ErrUnknownHostKey, false},
		{"no file refused", "-", false, other, ErrUnknownHostKey, false},
		{"unknown accepted", "", true, other, nil, true},
		{"no file accepted", "-", true, other, nil, true},
		{"changed refused", line, false, other, ErrChangedHostKey, false},
		{"changed refused even with accept-new", line, true, other, ErrChangedHostKey, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ssh", "known_hosts")
			if tt.file != "-" {
				os.MkdirAll(filepath.Dir(path), 0o700)
				os.WriteFile(path, []byte(tt.file), 0o600)
			}
			hk, err := newHostKeys(path, "node1", tt.acceptNew)
			if err != nil {
				t.Fatal(err)
			}
			err = hk.callback(addr, tcpAddr(addr), tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("callback = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), ssh.FingerprintSHA256(tt.key)) {
				t.Errorf("error %q does not name the fingerprint", err)
			}
			if errors.Is(tt.wantErr, ErrUnknownHostKey) && !strings.Contains(err.Error(), "--accept-new-host-keys") {
				t.Errorf("error %q does not say how to accept the key", err)
			}
			b, _ := os.ReadFile(path)
			before := tt.file
			if before == "-" {
				before = ""
			}
			if got := string(b) != before; got != tt.recorded {
				t.Errorf("known_hosts changed: %v, want %v", got, tt.recorded)
			}
			if tt.recorded {
				again, _ := newHostKeys(path, "node1", false)
				if err := again.callback(addr, tcpAddr(addr), tt.key); err != nil {
					t.Errorf("a recorded key is not accepted next time: %v", err)
				}
			}
		})
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	const addr = "[10.0.0.1]:22"
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&priv.PublicKey)
	path := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(path, []byte(knownhosts.Line([]string{addr}, rsaPub)+"\n"), 0o600)
	hk, _ := newHostKeys(path, "n", false)
	got := hk.algorithms("10.0.0.1:22")
	if len(got) == 0 || got[0] != ssh.KeyAlgoRSASHA512 {
		t.Errorf("algorithms = %v, want the RSA signature algorithms", got)
	}
	if got := hk.algorithms("10.0.0.2:22"); got != nil {
		t.Errorf("algorithms for an unknown host = %v, want nil (any)", got)
	}
}
