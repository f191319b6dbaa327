package main

import (
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/sshtest"
	"github.com/concdeploy/conc/internal/testnode"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

const loginPlan = "[plan deploy]\nstep = remote open_bundle\nstep = remote close_bundle\n"

// TestAuthFailureNamesUserAndKeys: a login the node refuses names the
// user and each key offered with where it came from, for a wrong user and
// for a wrong key alike.
func TestAuthFailureNamesUserAndKeys(t *testing.T) {
	n := testnode.OpenSSH(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	p := newProject(t, n, loginPlan)
	id, _ := ssh.ParsePrivateKey([]byte(readFile(t, n.Identity)))
	fp := ssh.FingerprintSHA256(id.PublicKey())
	ini := readFile(t, p.file)
	os.WriteFile(p.file, []byte(strings.Replace(ini, "admin = "+n.User+"\n", "admin = nobody-here\n", 1)), 0o600)
	r := p.conc("deploy", "node1")
	for _, want := range []string{"refused to log in nobody-here", fp + " from " + n.Identity, "authorized_keys"} {
		if r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("wrong user: output lacks %q: %s", want, r)
		}
	}
	other, err := sshtest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(p.dir, "wrong_key")
	if err := other.WritePrivateKey(wrong); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p.file, []byte(strings.Replace(ini, "identity = "+n.Identity+"\n", "identity = "+wrong+"\n", 1)), 0o600)
	r = p.conc("deploy", "node1")
	if want := ssh.FingerprintSHA256(other.PublicKey()) + " from " + wrong; r.code != 1 || !strings.Contains(r.stdout, "refused to log in "+n.User) || !strings.Contains(r.stdout, want) {
		t.Errorf("wrong key: output lacks %q: %s", want, r)
	}
}

// TestPassphraseKeyThroughAgent: identity = a key with a passphrase works
// when ssh-agent holds it, and says what to do when it does not.
func TestPassphraseKeyThroughAgent(t *testing.T) {
	n := testnode.OpenSSH(t)
	p := newProject(t, n, loginPlan)
	raw, err := ssh.ParseRawPrivateKey([]byte(readFile(t, n.Identity)))
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(raw, "", []byte("secret passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(p.dir, "locked_key")
	os.WriteFile(locked, pem.EncodeToMemory(block), 0o600)
	os.WriteFile(p.file, []byte(strings.Replace(readFile(t, p.file), "identity = "+n.Identity+"\n", "identity = "+locked+"\n", 1)), 0o600)

	keyring := agent.NewKeyring()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	if r := p.conc("deploy", "node1"); r.code != 1 || !strings.Contains(r.stdout, "ssh-agent does not hold it: add it (ssh-add "+locked+")") {
		t.Errorf("a passphrase key that ssh-agent does not hold: %s", r)
	}
	if err := keyring.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
		t.Fatal(err)
	}
	if r := p.conc("deploy", "node1"); r.code != 0 {
		t.Errorf("a passphrase key that ssh-agent holds: %s", r)
	}
}

// TestMissingIdentityBeforeConnecting: an identity file that cannot be
// read is a deploy-file error at its line, exit 2, before any connection.
func TestMissingIdentityBeforeConnecting(t *testing.T) {
	n := testnode.InProcess(t)
	p := newProject(t, n, loginPlan)
	missing := filepath.Join(p.dir, "no_such_key")
	os.WriteFile(p.file, []byte(strings.Replace(readFile(t, p.file), "identity = "+n.Identity+"\n", "identity = "+missing+"\n", 1)), 0o600)
	r := p.conc("deploy", "node1")
	if r.code != 2 || !strings.Contains(r.stderr, p.file+":3: the identity "+missing+" cannot be read") || r.stdout != "" {
		t.Errorf("a missing identity: %s", r)
	}
	if exists(p.nodePath(".cache")) {
		t.Error("conc connected to the node with a key it could not read")
	}
}

// TestMissingLocalFileBeforeLocking: a put of a local file that does not
// exist is a deploy-file error at the step's line before the node is
// locked; after a local run, which may make it, the check is the job's.
func TestMissingLocalFileBeforeLocking(t *testing.T) {
	n := testnode.InProcess(t)
	p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = local put dist/app.tar.gz\nstep = remote close_bundle\n")
	r := p.conc("deploy", "node1")
	if r.code != 2 || !strings.Contains(r.stderr, `step 2 (local put): "dist/app.tar.gz" matches no file`) || r.stdout != "" || exists(p.bundleDir()) || exists(p.nodePath(".cache")) {
		t.Errorf("a put of a missing file: %s", r)
	}
	p.write("[plan deploy]\nstep = remote open_bundle\nstep = local run \"mkdir -p dist && echo v1 > dist/app.tar.gz\"\nstep = local put dist/app.tar.gz\nstep = remote close_bundle\n")
	if r := p.conc("deploy", "node1"); r.code != 0 {
		t.Errorf("a put of a file an earlier local run makes: %s", r)
	}
}
