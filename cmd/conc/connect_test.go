package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/sshtest"
	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/jobs"
	"golang.org/x/crypto/ssh"
)

// writeConnectIni writes a deploy file for node1 that holds only what the
// test gives in node (and the workstation's own paths): how to reach the
// node comes from ssh_config, or from node's lines.
func writeConnectIni(p *project, node, plans string) {
	p.t.Helper()
	ini := fmt.Sprintf("[defaults]\nbundle = %s\nlocal_bundle = %s\n\n[node node1]\n%s\n\n%s", p.bundle, p.local, node, plans)
	if err := os.WriteFile(p.file, []byte(ini), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

func writeSSHConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDeployToSSHConfigAlias: sshd.ip names a Host of an ssh_config file,
// which alone holds the node's address, port, user, key and known_hosts;
// conc config says so, with the file and line of each.
func TestDeployToSSHConfigAlias(t *testing.T) {
	n := testnode.OpenSSH(t)
	p := newProject(t, n, "")
	cfg := filepath.Join(p.dir, "ssh_config")
	writeSSHConfig(t, cfg, fmt.Sprintf(`Host web-alias
  HostName %s
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
`, n.Host, n.Port, n.User, n.Identity, n.KnownHosts))
	writeConnectIni(p, "sshd.ip = web-alias\nssh_config = ssh_config", touchPlan)
	if r := p.conc("deploy", "node1"); r.code != 0 || !exists(p.nodePath("touched.txt")) {
		t.Fatalf("deploy to an ssh_config alias: touched.txt made: %v; %s", exists(p.nodePath("touched.txt")), r)
	}
	r := p.conc("config", "node1")
	for _, want := range []string{
		fmt.Sprintf("sshd.port = %d", n.Port), cfg + ":3 (Port)",
		"admin = " + n.User, cfg + ":4 (User)",
		"identity = " + n.Identity, cfg + ":5 (IdentityFile)",
		"known_hosts = " + n.KnownHosts, cfg + ":7 (UserKnownHostsFile)",
		"ssh_config HostName = 127.0.0.1", cfg + ":2\n",
		"ssh_config = ssh_config", p.file + ":6",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("conc config lacks %q:\n%s", want, r)
		}
	}
}

// bastionAndNode starts a bastion (sshd logging at DEBUG1) and a node,
// both accepting the node's key, with the bastion's key in the node's
// known_hosts unless unknown is set.
func bastionAndNode(t *testing.T, unknown bool) (bastion, n *testnode.Node) {
	t.Helper()
	bastion = testnode.OpenSSHWith(t, testnode.Options{LogLevel: "DEBUG1"})
	n = testnode.OpenSSH(t)
	bastion.Authorize(t, n)
	if !unknown {
		appendKnownHost(t, n.KnownHosts, bastion.Addr(), bastion.HostKey)
	}
	return bastion, n
}

func appendKnownHost(t *testing.T, path, addr string, key ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(sshtest.KnownHostsLine(addr, key) + "\n"); err != nil {
		t.Fatal(err)
	}
}

// throughBastion checks, from the logs of the bastion and the node, that
// the node was reached through the bastion: both listen on one loopback,
// so reaching the node proves nothing, but every connection the node
// accepted must be one the bastion opened for a direct-tcpip request to
// the node's port, and there must be some.
func throughBastion(t *testing.T, bastion, n *testnode.Node) {
	t.Helper()
	blog, nlog := bastion.StopLog(t), n.StopLog(t)
	re := regexp.MustCompile(`server_request_direct_tcpip: originator \S+ port \d+, target \S+ port ` + strconv.Itoa(n.Port) + `\b`)
	forwarded, accepted := len(re.FindAllString(blog, -1)), strings.Count(nlog, "Accepted publickey for ")
	if accepted == 0 || forwarded != accepted {
		t.Errorf("the bastion forwarded %d connections to the node's port %d, the node accepted %d; want as many, and some", forwarded, n.Port, accepted)
	}
}

// TestDeployThroughJumpHost deploys to a node through a bastion named by
// ssh_config's ProxyJump, and by the deploy file's jump =; conc ssh and
// conc bundle go the same way.
func TestDeployThroughJumpHost(t *testing.T) {
	t.Run("ProxyJump", func(t *testing.T) {
		bastion, n := bastionAndNode(t, false)
		p := newProject(t, n, "")
		cfg := filepath.Join(p.dir, "ssh_config")
		writeSSHConfig(t, cfg, fmt.Sprintf("Host target\n  HostName 127.0.0.1\n  Port %d\n  ProxyJump bastion\n\nHost bastion\n  HostName 127.0.0.1\n  Port %d\n",
			n.Port, bastion.Port))
		writeConnectIni(p, fmt.Sprintf("sshd.ip = target\nssh_config = %s\nadmin = %s\nidentity = %s\nknown_hosts = %s", cfg, n.User, n.Identity, n.KnownHosts), touchPlan)
		if r := p.conc("deploy", "node1"); r.code != 0 || !exists(p.nodePath("touched.txt")) {
			t.Fatalf("deploy through ProxyJump: %s", r)
		}
		if r := p.conc("config", "node1"); !strings.Contains(r.stdout, "jump = bastion") || !strings.Contains(r.stdout, cfg+":4 (ProxyJump)") ||
			!strings.Contains(r.stdout, fmt.Sprintf("jump bastion Port = %d", bastion.Port)) {
			t.Errorf("conc config does not show the jump host from ssh_config:\n%s", r)
		}
		makeBundle(t, p.bundleDir(), map[string]string{"note.txt": "behind the bastion"})
		if r := p.conc("bundle", "node1", "cat", "note.txt"); r.code != 0 || r.stdout != "behind the bastion" {
			t.Errorf("conc bundle through the jump host: %s", r)
		}
		throughBastion(t, bastion, n)
	})
	t.Run("jump", func(t *testing.T) {
		bastion, n := bastionAndNode(t, false)
		p := newProject(t, n, "")
		writeConnectIni(p, fmt.Sprintf("sshd.ip = %s\nsshd.port = %d\njump = %s@127.0.0.1:%d\nssh_config = none\nadmin = %s\nidentity = %s\nknown_hosts = %s",
			n.Host, n.Port, n.User, bastion.Port, n.User, n.Identity, n.KnownHosts), touchPlan)
		if r := p.conc("deploy", "node1"); r.code != 0 || !exists(p.nodePath("touched.txt")) {
			t.Fatalf("deploy through jump =: %s", r)
		}
		if r := concInput(p, "echo $HOME\n", "ssh", "node1"); r.code != 0 || strings.TrimSpace(r.stdout) != n.Home {
			t.Errorf("conc ssh through the jump host: %s", r)
		}
		throughBastion(t, bastion, n)
	})
}

// TestJumpHostKeys: a jump host's key is checked like a node's. Unknown,
// it is refused (BLOCKED, nothing done on the node) unless
// --accept-new-host-keys records it; changed, it is always refused. The
// message names the node and the hop.
func TestJumpHostKeys(t *testing.T) {
	bastion, n := bastionAndNode(t, true)
	p := newProject(t, n, "")
	writeConnectIni(p, fmt.Sprintf("sshd.ip = %s\nsshd.port = %d\njump = bastion-hop\nssh_config = ssh_config\nadmin = %s\nidentity = %s\nknown_hosts = %s",
		n.Host, n.Port, n.User, n.Identity, n.KnownHosts), touchPlan)
	writeSSHConfig(t, filepath.Join(p.dir, "ssh_config"), fmt.Sprintf("Host bastion-hop\n  HostName 127.0.0.1\n  Port %d\n", bastion.Port))

	r := p.conc("deploy", "node1")
	checkRefused(t, r, "connect to node1 through bastion-hop: bastion-hop", "unknown host key", "--accept-new-host-keys")
	if exists(p.bundleDir()) || exists(p.nodePath("touched.txt")) {
		t.Error("something was done on the node behind an unverified jump host")
	}
	if r := p.conc("--accept-new-host-keys", "deploy", "node1"); r.code != 0 || !exists(p.nodePath("touched.txt")) {
		t.Fatalf("deploy with --accept-new-host-keys: %s", r)
	}
	kh, _ := os.ReadFile(n.KnownHosts)
	if !strings.Contains(string(kh), fmt.Sprintf("[127.0.0.1]:%d ", bastion.Port)) {
		t.Errorf("known_hosts does not hold the jump host's key:\n%s", kh)
	}

	other, err := sshtest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	changed := sshtest.KnownHostsLine(n.Addr(), n.HostKey) + "\n" + sshtest.KnownHostsLine(bastion.Addr(), other.PublicKey()) + "\n"
	if err := os.WriteFile(n.KnownHosts, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(p.nodePath("touched.txt"))
	for _, args := range [][]string{{"deploy", "node1"}, {"--accept-new-host-keys", "deploy", "node1"}} {
		r := p.conc(args...)
		checkRefused(t, r, "connect to node1 through bastion-hop: bastion-hop", "host key changed", "may be an attack")
	}
	if exists(p.nodePath("touched.txt")) {
		t.Error("the deploy ran behind a jump host whose key changed")
	}
}

func checkRefused(t *testing.T, r result, wants ...string) {
	t.Helper()
	if r.code != jobs.ExitFailed || strings.Contains(r.stdout, "BLOCKED") {
		t.Errorf("exit %d, want %d (ERROR, not BLOCKED: a refused key is not a lock): %s", r.code, jobs.ExitFailed, r)
	}
	for _, want := range wants {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("output lacks %q: %s", want, r)
		}
	}
}

// TestMountThroughJumpHost: mount_sshfs mounts the bundle of a node behind
// a bastion, through conc's own connection (see jobs/localops
// TestMountThroughJumpHost for the op alone).
func TestMountThroughJumpHost(t *testing.T) {
	requireFuse(t)
	bastion, n := bastionAndNode(t, false)
	p := newProject(t, n, "")
	writeConnectIni(p, fmt.Sprintf("sshd.ip = %s\nsshd.port = %d\njump = %s@127.0.0.1:%d\nssh_config = none\nadmin = %s\nidentity = %s\nknown_hosts = %s",
		n.Host, n.Port, n.User, bastion.Port, n.User, n.Identity, n.KnownHosts), `[plan deploy]
step = remote open_bundle
step = remote run "echo behind the bastion > note.txt"
step = local open_bundle
step = local mount_sshfs
step = local run "cat local-bundle/note.txt > seen-through-mount.txt"
step = local unmount_sshfs
step = remote close_bundle
step = local close_bundle
`)
	r := p.conc("deploy", "node1")
	if r.code != 0 {
		t.Fatalf("deploy: %s", r)
	}
	if b, _ := os.ReadFile(filepath.Join(p.dir, "seen-through-mount.txt")); string(b) != "behind the bastion\n" {
		t.Errorf("through the mount note.txt reads %q", b)
	}
	if mounted, _ := jobs.IsMountPoint(p.local); mounted {
		t.Error("the local bundle is still mounted")
	}
	throughBastion(t, bastion, n)
}
