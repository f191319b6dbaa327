package sshconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/sshtest"
	"github.com/concdeploy/conc/internal/testnode"
	"golang.org/x/crypto/ssh"
)

// behindBastion starts two OpenSSH nodes, a bastion logging at DEBUG1 and
// a node, both accepting the node's key, and returns the node's Target
// through the bastion. The bastion's key is in the node's known_hosts.
func behindBastion(t *testing.T) (target Target, node, bastion *testnode.Node) {
	t.Helper()
	bastion = testnode.OpenSSHWith(t, testnode.Options{LogLevel: "DEBUG1"})
	node = testnode.OpenSSH(t)
	bastion.Authorize(t, node)
	addKnownHost(t, node.KnownHosts, bastion.Addr(), bastion.HostKey)
	hop := Target{Name: "bastion", Addr: bastion.Addr(), User: bastion.User, Identity: node.Identity, KnownHosts: node.KnownHosts}
	target = Target{Name: node.Name, Addr: node.Addr(), User: node.User, Identity: node.Identity, KnownHosts: node.KnownHosts, Jumps: []Target{hop}}
	return target, node, bastion
}

func addKnownHost(t *testing.T, path, addr string, key ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(sshtest.KnownHostsLine(addr, key) + "\n"); err != nil {
		t.Fatal(err)
	}
}

// directTCPIP counts the bastion's direct-tcpip requests to port, from its
// DEBUG1 log.
func directTCPIP(log string, port int) int {
	re := regexp.MustCompile(`server_request_direct_tcpip: originator \S+ port \d+, target \S+ port ` + strconv.Itoa(port) + `\b`)
	return len(re.FindAllString(log, -1))
}

func accepted(log string) int {
	return strings.Count(log, "Accepted publickey for ")
}

// TestDialThroughBastion: the node is reached through the bastion. The
// node and the bastion listen on the same loopback, so reachability proves
// nothing; the logs do: every connection the node accepted is one the
// bastion opened for a direct-tcpip request to the node's port.
func TestDialThroughBastion(t *testing.T) {
	target, node, bastion := behindBastion(t)
	c, err := Dial(context.Background(), target, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(c, "echo $HOME")
	if err != nil || strings.TrimSpace(out) != node.Home {
		t.Errorf("echo $HOME through the bastion: %q, %v; want %s", out, err, node.Home)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	blog, nlog := bastion.StopLog(t), node.StopLog(t)
	if n, a := directTCPIP(blog, node.Port), accepted(nlog); n != 1 || a != 1 {
		t.Errorf("the bastion forwarded %d connections to the node's port %d, the node accepted %d; want 1 and 1\nbastion log:\n%s", n, node.Port, a, blog)
	}
}

func run(c *Conn, cmd string) (string, error) {
	s, err := c.Client.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	b, err := s.CombinedOutput(cmd)
	return string(b), err
}

// TestHopHostKeys: a jump host's key is checked like a node's: unknown is
// refused unless accepted, changed always, and the error names the hop.
func TestHopHostKeys(t *testing.T) {
	target, node, bastion := behindBastion(t)
	ctx := context.Background()

	// Unknown: the bastion is not in a fresh known_hosts.
	fresh := t.TempDir() + "/known_hosts"
	addKnownHost(t, fresh, node.Addr(), node.HostKey)
	unknown := target
	unknown.KnownHosts = fresh
	unknown.Jumps = []Target{target.Jumps[0]}
	unknown.Jumps[0].KnownHosts = fresh
	_, err := Dial(ctx, unknown, DialOptions{})
	checkHopKeyError(t, err, ErrUnknownHostKey, "--accept-new-host-keys")
	c, err := Dial(ctx, unknown, DialOptions{AcceptNewHostKeys: true})
	if err != nil {
		t.Fatalf("with --accept-new-host-keys: %v", err)
	}
	c.Close()
	if b, _ := os.ReadFile(fresh); !strings.Contains(string(b), fmt.Sprintf("[127.0.0.1]:%d", bastion.Port)) {
		t.Errorf("the accepted hop's key is not in known_hosts:\n%s", b)
	}

	// Changed: known_hosts holds another key for the bastion.
	other, err := sshtest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	changed := t.TempDir() + "/known_hosts"
	addKnownHost(t, changed, node.Addr(), node.HostKey)
	addKnownHost(t, changed, bastion.Addr(), other.PublicKey())
	target.Jumps[0].KnownHosts, target.KnownHosts = changed, changed
	for _, accept := range []bool{false, true} {
		_, err := Dial(ctx, target, DialOptions{AcceptNewHostKeys: accept})
		checkHopKeyError(t, err, ErrChangedHostKey, "may be an attack")
	}
	if n := directTCPIP(bastion.StopLog(t), node.Port); n != 1 {
		t.Errorf("the bastion forwarded %d connections to the node, want 1 (only the accepted one)", n)
	}
}

func checkHopKeyError(t *testing.T, err error, want error, hint string) {
	t.Helper()
	var hk *HostKeyError
	if !errors.Is(err, want) || !errors.As(err, &hk) {
		t.Fatalf("dial = %v, want %v", err, want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "connect to node") || !strings.Contains(msg, "through bastion: bastion (") || !strings.Contains(msg, hint) {
		t.Errorf("error %q does not name the node, the hop, and %q", msg, hint)
	}
}

// TestForwardSSH: the forward reaches the node's sshd through the
// bastion, the node's key checks under the alias ForwardSSH gives, and
// Close closes it.
func TestForwardSSH(t *testing.T) {
	target, node, bastion := behindBastion(t)
	c, err := Dial(context.Background(), target, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	addr, alias, err := c.ForwardSSH()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("[127.0.0.1]:%d", node.Port); alias != want {
		t.Errorf("host key alias %q, want %q", alias, want)
	}
	if again, _, _ := c.ForwardSSH(); again != addr {
		t.Errorf("a second ForwardSSH made another forward: %s, then %s", addr, again)
	}
	keys, err := newHostKeys(node.KnownHosts, node.Name, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.ClientConfig()
	cfg.HostKeyCallback = func(_ string, remote net.Addr, key ssh.PublicKey) error {
		return keys.callback(alias, remote, key)
	}
	for i := 0; i < 2; i++ {
		fc, err := ssh.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatalf("connection %d through the forward: %v", i+1, err)
		}
		fc.Close()
	}
	c.Close()
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("the forward still accepts after Close")
	}
	blog, nlog := bastion.StopLog(t), node.StopLog(t)
	if n, a := directTCPIP(blog, node.Port), accepted(nlog); n != 3 || a != 3 {
		t.Errorf("the bastion forwarded %d connections to the node, the node accepted %d; want 3 and 3 (conc's and two through the forward)", n, a)
	}
}
