package localops

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/concdeploy/conc/jobs"
)

func TestSSHFSArgv(t *testing.T) {
	params := map[string]string{
		"admin": "deploy", "sshd.ip": "::1", "sshd.port": "2222", "bundle": ".conc-bundle",
		"identity": "/keys/id_ed25519", "known_hosts": "/home/ops/.ssh/known_hosts",
	}
	argv, err := sshfsArgv("/usr/bin/sshfs", params, "/mnt/b")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deploy@[::1]:.conc-bundle", "/mnt/b", "2222", "IdentityFile=/keys/id_ed25519",
		"UserKnownHostsFile=/home/ops/.ssh/known_hosts", "StrictHostKeyChecking=yes", "BatchMode=yes"} {
		if !slices.Contains(argv, want) {
			t.Errorf("argv %q lacks %q", argv, want)
		}
	}
	params["identity"] = "/keys/id_ed25519.pub"
	if _, err := sshfsArgv("sshfs", params, "/m"); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Errorf("a .pub identity: %v, want refused", err)
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
