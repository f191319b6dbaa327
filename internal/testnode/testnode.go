// Package testnode gives a test a node to deploy to: an SSH server on
// 127.0.0.1 with a fresh home directory, a client identity and a known_hosts
// file, served either by the in-process server of internal/sshtest or by a
// real OpenSSH sshd started for the test.
package testnode

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/concdeploy/conc/internal/sshtest"
)

// Kinds of node.
const (
	KindInProcess = "inprocess"
	KindOpenSSH   = "openssh"
)

// dialTimeout bounds connection set-up in Dial.
const dialTimeout = 10 * time.Second

var nodeSeq atomic.Int64

// Node is an SSH node for one test. Its files live in temporary
// directories removed when the test ends.
type Node struct {
	Name       string        // "node1", "node2"... unique in the test binary
	Host       string        // "127.0.0.1"
	Port       int           // the SSH port
	User       string        // current user name, the only user accepted
	Home       string        // the node's home directory: $HOME and cwd of commands, SFTP working directory
	Identity   string        // path of the client's private key file (OpenSSH format, 0600)
	KnownHosts string        // path of a known_hosts file with the node's host key line
	HostKey    ssh.PublicKey // the node's host key
	Kind       string        // KindInProcess or KindOpenSSH
	// Cut abruptly drops every live connection to the node, as a network
	// failure would; commands keep running and see EOF on stdin. New
	// connections are accepted. Cut returns once the connections are gone.
	Cut func()

	signer   ssh.Signer    // the client key in Identity
	sshdPID  int           // the sshd listener, for KindOpenSSH
	authKeys string        // sshd's authorized_keys, for KindOpenSSH
	stop     func() string // stops sshd and returns its whole log, for KindOpenSSH
	commands func() []string
}

// Commands returns the commands the node's sessions were asked to run, in
// the order they came: what the node's process list showed of them, as
// its login shell's argument.
func (n *Node) Commands(tb testing.TB) []string {
	tb.Helper()
	return n.commands()
}

// Authorize lets the client of other log in to n too, with other's
// Identity: a jump host and the node behind it accept the same key, as
// conc uses the node's key for its jump hosts. OpenSSH nodes only.
func (n *Node) Authorize(tb testing.TB, other *Node) {
	tb.Helper()
	if n.authKeys == "" {
		tb.Fatalf("Authorize: %s is not an OpenSSH node", n.Name)
	}
	f, err := os.OpenFile(n.authKeys, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(ssh.MarshalAuthorizedKey(other.signer.PublicKey())); err != nil {
		tb.Fatal(err)
	}
}

// StopLog stops an OpenSSH node's sshd, with every connection and command
// it serves, and returns sshd's whole log: nothing sshd wrote is still on
// its way. OpenSSH nodes only.
func (n *Node) StopLog(tb testing.TB) string {
	tb.Helper()
	if n.stop == nil {
		tb.Fatalf("StopLog: %s is not an OpenSSH node", n.Name)
	}
	return n.stop()
}

// Addr returns "host:port".
func (n *Node) Addr() string {
	return net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
}

// ClientConfig returns a client configuration that logs in as n.User with
// the key in n.Identity and accepts only n.HostKey.
func (n *Node) ClientConfig() *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            n.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(n.signer)},
		HostKeyCallback: ssh.FixedHostKey(n.HostKey),
		Timeout:         dialTimeout,
	}
}

// Dial connects to the node with ClientConfig; the connection is closed
// when the test ends.
func (n *Node) Dial(tb testing.TB) *ssh.Client {
	tb.Helper()
	c, err := ssh.Dial("tcp", n.Addr(), n.ClientConfig())
	if err != nil {
		tb.Fatalf("dial %s node %s: %v", n.Kind, n.Name, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// SSHOptions returns "-o" options that make OpenSSH's ssh, scp, sftp and
// sshfs connect to the node non-interactively with n.Identity and
// n.KnownHosts, e.g. append(n.SSHOptions(), n.User+"@"+n.Host, "true").
func (n *Node) SSHOptions() []string {
	var args []string
	for _, o := range []string{
		"Port=" + strconv.Itoa(n.Port),
		"IdentityFile=" + n.Identity,
		"IdentitiesOnly=yes",
		"UserKnownHostsFile=" + n.KnownHosts,
		"GlobalKnownHostsFile=/dev/null",
		"StrictHostKeyChecking=yes",
		"BatchMode=yes",
	} {
		args = append(args, "-o", o)
	}
	return args
}

// Both runs f as the subtests "inprocess" and "openssh", with a node of
// each kind. The openssh subtest is skipped (or fails in CI) when sshd is
// not installed, see RequireSSHD.
func Both(t *testing.T, f func(t *testing.T, n *Node)) {
	t.Helper()
	t.Run(KindInProcess, func(t *testing.T) { f(t, InProcess(t)) })
	t.Run(KindOpenSSH, func(t *testing.T) { f(t, OpenSSH(t)) })
}

// InProcess starts an internal/sshtest server on 127.0.0.1 for the test
// and returns its node. The server is closed when the test ends.
func InProcess(tb testing.TB) *Node {
	tb.Helper()
	n, hostKey := newNode(tb, KindInProcess)
	var mu sync.Mutex
	var commands []string
	n.commands = func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(commands)
	}
	srv, err := sshtest.Listen(sshtest.Config{
		Listen:         "127.0.0.1:0",
		Root:           n.Home,
		User:           n.User,
		HostKey:        hostKey.Signer,
		AuthorizedKeys: []ssh.PublicKey{n.signer.PublicKey()},
		// ~/bin first on PATH, as with the OpenSSH node.
		Env: []string{"PATH=" + filepath.Join(n.Home, "bin") + ":" + os.Getenv("PATH")},
		Logf: func(format string, args ...any) {
			tb.Logf("%s: "+format, append([]any{n.Name}, args...)...)
		},
		OnExec: func(command string) {
			mu.Lock()
			defer mu.Unlock()
			commands = append(commands, command)
		},
	})
	if err != nil {
		tb.Fatalf("start in-process node: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("close in-process node %s: %v", n.Name, err)
		}
	})
	n.Port = srv.Addr().Port
	n.Cut = srv.CutConnections
	writeKnownHosts(tb, n)
	return n
}

// newNode fills in the fields common to both kinds and writes the client
// identity. It returns the host key to serve.
func newNode(tb testing.TB, kind string) (*Node, *sshtest.Key) {
	tb.Helper()
	hostKey, err := sshtest.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	clientKey, err := sshtest.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	n := &Node{
		Name:     fmt.Sprintf("node%d", nodeSeq.Add(1)),
		Host:     "127.0.0.1",
		User:     currentUser(tb),
		Home:     tb.TempDir(),
		Identity: filepath.Join(tb.TempDir(), "id_ed25519"),
		HostKey:  hostKey.PublicKey(),
		Kind:     kind,
		signer:   clientKey.Signer,
	}
	n.KnownHosts = filepath.Join(filepath.Dir(n.Identity), "known_hosts")
	if err := clientKey.WritePrivateKey(n.Identity); err != nil {
		tb.Fatal(err)
	}
	return n, hostKey
}

func writeKnownHosts(tb testing.TB, n *Node) {
	tb.Helper()
	if err := sshtest.WriteKnownHosts(n.KnownHosts, n.Addr(), n.HostKey); err != nil {
		tb.Fatal(err)
	}
}

func currentUser(tb testing.TB) string {
	tb.Helper()
	u, err := user.Current()
	if err != nil {
		tb.Fatalf("look up current user: %v", err)
	}
	return u.Username
}

// requireFile returns the first of paths that is an executable file. If
// there is none, it skips the test, or fails it in CI where .ci/run is
// expected to have installed it.
func requireFile(tb testing.TB, what string, paths []string) string {
	tb.Helper()
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found; .ci/run must install openssh-server", what)
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}
