package sshtarget

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOverrideBeatsSSHConfig: a -p value is the operator's, as a deploy
// file's is, and wins over ssh_config's.
func TestOverrideBeatsSSHConfig(t *testing.T) {
	home := t.TempDir()
	sc := filepath.Join(home, "ssh_config")
	os.WriteFile(sc, []byte("Host *\n  Port 2200\n  UserKnownHostsFile /tmp/from-ssh-config\n"), 0o600)
	f, _ := loadNode(t, home, "admin = deploy\nssh_config = "+sc, "sshd.ip = 192.0.2.1")
	n, err := f.WithOverrides(map[string]string{"sshd.port": "2222", "known_hosts": "/tmp/from-p"}).Node("n1")
	if err != nil {
		t.Fatal(err)
	}
	tg, err := TargetOf(n, home)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Addr != "192.0.2.1:2222" || tg.KnownHosts != "/tmp/from-p" {
		t.Errorf("with -p sshd.port=2222 -p known_hosts=/tmp/from-p: Addr %s, KnownHosts %s", tg.Addr, tg.KnownHosts)
	}
}
