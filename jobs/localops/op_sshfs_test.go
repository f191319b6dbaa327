package localops

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/sshtest"
	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/sshconn"
)

func TestSSHFSArgv(t *testing.T) {
	params := map[string]string{
		"admin": "deploy", "sshd.ip": "::1", "sshd.port": "2222", "bundle": ".conc-bundle",
		"identity": "/keys/id_ed25519", "known_hosts": "/home/ops/.ssh/known_hosts",
	}
	argv, err := sshfsArgv("/usr/bin/sshfs", params, "/mnt/b", sshfsForward{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deploy@[::1]:.conc-bundle", "/mnt/b", "2222", "IdentityFile=/keys/id_ed25519",
		"UserKnownHostsFile=/home/ops/.ssh/known_hosts", "StrictHostKeyChecking=yes", "BatchMode=yes"} {
		if !slices.Contains(argv, want) {
			t.Errorf("argv %q lacks %q", argv, want)
		}
	}
	if slices.ContainsFunc(argv, func(a string) bool { return strings.HasPrefix(a, "HostKeyAlias") }) {
		t.Errorf("argv %q of a direct mount has a HostKeyAlias", argv)
	}
	params["identity"] = "/keys/id_ed25519.pub"
	if _, err := sshfsArgv("sshfs", params, "/m", sshfsForward{}); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Errorf("a .pub identity: %v, want refused", err)
	}
}

// TestSSHFSArgvForward: through a forward, sshfs connects to the forward
// and checks the node's key under the node's own name.
func TestSSHFSArgvForward(t *testing.T) {
	params := map[string]string{
		"admin": "deploy", "sshd.ip": "10.0.0.5", "sshd.port": "22", "bundle": ".conc-bundle",
		"known_hosts": "/home/ops/.ssh/known_hosts",
	}
	argv, err := sshfsArgv("sshfs", params, "/mnt/b", sshfsForward{addr: "127.0.0.1:40123", hostKeyAlias: "10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sshfs", "deploy@127.0.0.1:.conc-bundle", "/mnt/b", "-p", "40123"}
	if !slices.Equal(argv[:5], want) {
		t.Errorf("argv starts %q, want %q", argv[:5], want)
	}
	for _, o := range []string{"HostKeyAlias=10.0.0.5", "CheckHostIP=no", "StrictHostKeyChecking=yes"} {
		if !slices.Contains(argv, o) {
			t.Errorf("argv %q lacks %q", argv, o)
		}
	}
}

// TestSSHFSArgvRefuses: every value that reaches sshfs's command line is
// checked there too, whatever the deploy file's checks let through (values
// from ssh_config, from a Go program's own params).
func TestSSHFSArgvRefuses(t *testing.T) {
	for _, tt := range []struct {
		key, value, want string
		fwd              sshfsForward
	}{
		{"identity", "/keys/a,ProxyCommand=touch x", "-o IdentityFile", sshfsForward{}},
		{"identity", "/keys/my key", "-o IdentityFile", sshfsForward{}},
		{"identity", "/keys/%d/key", "-o IdentityFile", sshfsForward{}},
		{"known_hosts", "/kh\"x", "-o UserKnownHostsFile", sshfsForward{}},
		{"known_hosts", "/a=b", "-o UserKnownHostsFile", sshfsForward{}},
		{"admin", "-oProxyCommand=x", "USER@HOST", sshfsForward{}},
		{"admin", "a@b", "USER@HOST", sshfsForward{}},
		{"sshd.ip", "-oProxyCommand=x", "USER@HOST", sshfsForward{}},
		{"sshd.ip", "a b", "USER@HOST", sshfsForward{}},
		{"sshd.port", "22 -oX", "port", sshfsForward{}},
		{"bundle", "b,allow_other", "comma", sshfsForward{}},
		{"", "", "-o HostKeyAlias", sshfsForward{addr: "127.0.0.1:1", hostKeyAlias: "x,ProxyCommand=y"}},
		{"", "", "-o HostKeyAlias", sshfsForward{addr: "127.0.0.1:1"}},
	} {
		params := map[string]string{"admin": "deploy", "sshd.ip": "10.0.0.5", "sshd.port": "22", "bundle": ".b", "known_hosts": "/kh"}
		if tt.key != "" {
			params[tt.key] = tt.value
		}
		argv, err := sshfsArgv("sshfs", params, "/mnt/b", tt.fwd)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s = %q, forward %+v: argv %q, error %v; want an error naming %s", tt.key, tt.value, tt.fwd, argv, err, tt.want)
		}
	}
}

// TestMountRefusesJumpWithoutForward: a run that cannot give sshfs a way
// through the node's jump hosts does not let sshfs try the node directly.
func TestMountRefusesJumpWithoutForward(t *testing.T) {
	requireFuse(t)
	env := newTestEnv(t, jobs.Local)
	os.Mkdir(env.Bundle(), 0o700)
	env.params["jump"] = "bastion"
	res := runOp(t, env, "mount_sshfs")
	if res.Status != jobs.Error || !strings.Contains(res.Message, "jump hosts (bastion)") {
		t.Errorf("got %s %q, want ERROR naming the jump hosts", res.Status, res.Message)
	}
}

// TestMountWithoutSSHFS hides sshfs: the job is BLOCKED naming the package,
// or OK with --optional.
func TestMountWithoutSSHFS(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	env := newTestEnv(t, jobs.Local)
	os.Mkdir(env.Bundle(), 0o700)
	res := runOp(t, env, "mount_sshfs")
	if res.Status != jobs.Blocked || !strings.Contains(res.Message, "apt install sshfs") {
		t.Errorf("got %s %q, want BLOCKED naming the package", res.Status, res.Message)
	}
	res = runOp(t, env, "mount_sshfs", "--optional")
	if res.Status != jobs.OK || !strings.Contains(res.Message, "skipped") {
		t.Errorf("--optional: got %s %q, want OK, skipped", res.Status, res.Message)
	}
	if len(env.mounts) != 0 {
		t.Errorf("mounts recorded: %v", env.mounts)
	}
}

func TestUnmountNotMounted(t *testing.T) {
	env := newTestEnv(t, jobs.Local)
	os.Mkdir(env.Bundle(), 0o700)
	res := runOp(t, env, "unmount_sshfs")
	if res.Status != jobs.OK || !strings.Contains(res.Message, "was not mounted") {
		t.Errorf("got %s %q", res.Status, res.Message)
	}
	if _, err := os.Stat(filepath.Join(env.Bundle())); err != nil {
		t.Error(err)
	}
}

// forwardEnv is a test Env with conc's connection to a node behind a jump
// host, as the deploy side gives mount_sshfs.
type forwardEnv struct {
	*testEnv
	conn  *sshconn.Conn
	alias string // when set, replaces the host key alias
}

var _ SSHForwarder = forwardEnv{}

func (e forwardEnv) ForwardSSH(context.Context) (string, string, error) {
	addr, alias, err := e.conn.ForwardSSH()
	if e.alias != "" {
		alias = e.alias
	}
	return addr, alias, err
}

// TestMountThroughJumpHost mounts, with the real sshfs, the bundle of an
// OpenSSH node reached only through a bastion: sshfs connects to conc's
// forward and checks the node's key under the node's own name. The logs
// prove the route: the node listens on the same loopback as the bastion,
// but every connection it accepted (conc's and sshfs's) is one the
// bastion opened for a direct-tcpip request to the node's port.
func TestMountThroughJumpHost(t *testing.T) {
	requireFuse(t)
	bastion := testnode.OpenSSHWith(t, testnode.Options{LogLevel: "DEBUG1"})
	node := testnode.OpenSSH(t)
	bastion.Authorize(t, node)
	if err := appendFile(node.KnownHosts, sshtest.KnownHostsLine(bastion.Addr(), bastion.HostKey)+"\n"); err != nil {
		t.Fatal(err)
	}
	hop := sshconn.Target{Name: "bastion", Addr: bastion.Addr(), User: node.User, Identity: node.Identity, KnownHosts: node.KnownHosts}
	target := sshconn.Target{Name: node.Name, Addr: node.Addr(), User: node.User, Identity: node.Identity, KnownHosts: node.KnownHosts, Jumps: []sshconn.Target{hop}}
	conn, err := sshconn.Dial(context.Background(), target, sshconn.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := os.MkdirAll(filepath.Join(node.Home, ".conc-bundle"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(node.Home, ".conc-bundle", "hello.txt"), []byte("from behind the bastion"), 0o600)

	env := forwardEnv{testEnv: newTestEnv(t, jobs.Local), conn: conn}
	env.params["bundle"] = ".conc-bundle"
	target.SetParams(env.params)
	os.Mkdir(env.Bundle(), 0o700)

	// OpenSSH checks the node's key under the alias: under a name
	// known_hosts does not hold, sshfs refuses to connect.
	wrong := env
	wrong.alias = "[127.0.0.1]:1"
	if res := runOp(t, wrong, "mount_sshfs"); res.Status == jobs.OK {
		runOp(t, env, "unmount_sshfs")
		t.Fatalf("mount_sshfs with a host key alias not in known_hosts: %s %q", res.Status, res.Message)
	}
	res := runOp(t, env, "mount_sshfs")
	if res.Status != jobs.OK || !strings.Contains(res.Message, "while conc runs") {
		t.Fatalf("mount_sshfs: %s %q\n%s", res.Status, res.Message, env.out.Bytes())
	}
	b, err := os.ReadFile(filepath.Join(env.Bundle(), "hello.txt"))
	if r := runOp(t, env, "unmount_sshfs"); r.Status != jobs.OK {
		t.Errorf("unmount_sshfs: %s %q", r.Status, r.Message)
	}
	if string(b) != "from behind the bastion" {
		t.Errorf("through the mount hello.txt reads %q, %v", b, err)
	}
	conn.Close()
	blog, nlog := bastion.StopLog(t), node.StopLog(t)
	re := regexp.MustCompile(`server_request_direct_tcpip: originator \S+ port \d+, target \S+ port ` + strconv.Itoa(node.Port) + `\b`)
	if n, a := len(re.FindAllString(blog, -1)), strings.Count(nlog, "Accepted publickey for "); n != 3 || a != 2 {
		t.Errorf("the bastion forwarded %d connections to the node, the node accepted %d; want 3 (conc's and sshfs's two) and 2 (the refused sshfs does not log in)", n, a)
	}
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// requireFuse skips the test, or fails it under CI=true, without sshfs,
// fusermount and /dev/fuse.
func requireFuse(t *testing.T) {
	t.Helper()
	_, _, missing := fuseTools()
	if missing == "" {
		f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
		if err == nil {
			f.Close()
			return
		}
		t.Skipf("this machine cannot mount FUSE file systems: %v", err)
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; .ci/run must install sshfs", missing)
	}
	t.Skip(missing)
}
