package agentclient

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/sshconn"
)

func TestStampsRoundTrip(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	a := sshconn.Target{User: "deploy", Addr: "node1:22"}
	b := sshconn.Target{User: "deploy", Addr: "node2:22"}
	h1, h2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	if err := saveStamp(a, h1, "12 4000 2026-12-03 10:00:00.1 +0000"); err != nil {
		t.Fatal(err)
	}
	if err := saveStamp(a, h2, "13 4000 2026-12-03 10:00:00.2 +0000"); err != nil {
		t.Fatal(err)
	}
	got := loadStamps(a)
	if got[h1] != "12 4000 2026-12-03 10:00:00.1 +0000" || got[h2] != "13 4000 2026-12-03 10:00:00.2 +0000" {
		t.Errorf("stamps of node1: %q", got)
	}
	if got := loadStamps(b); len(got) != 0 {
		t.Errorf("node2 has node1's stamps: %q", got)
	}
	for _, bad := range [][2]string{{"not-a-hash", "1 2 3"}, {h1, "1 2\n" + h2 + " 3"}} {
		if err := saveStamp(a, bad[0], bad[1]); err == nil {
			t.Errorf("saveStamp(%q, %q) was accepted", bad[0], bad[1])
		}
	}
	if got := loadStamps(a); len(got) != 2 {
		t.Errorf("after refused stamps: %q", got)
	}
}

// TestBootScript runs the boot script in sh against a cached "agent" (a
// script whose name is its sha256) to show what the stamp decides: a
// matching stamp runs it unhashed, any other stamp (hostile ones
// included) hashes it first, and a file that fails is removed, not run.
func TestBootScript(t *testing.T) {
	home := t.TempDir()
	cache := filepath.Join(home, bundle.CacheDir)
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	body := []byte("#!/bin/sh\necho agent-ran\n")
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	agent := filepath.Join(cache, bundle.AgentPrefix+hash)
	if err := os.WriteFile(agent, body, 0o700); err != nil {
		t.Fatal(err)
	}
	agents := Agents{"amd64": {Arch: "amd64", Hash: hash}}
	bootFor := func(stamp string, preview bool) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", bootCommand(agents, map[string]string{hash: stamp}, 0, nil, preview))
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
		cmd.Dir = home
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	boot := func(stamp string) string { return bootFor(stamp, false) }

	out := boot("")
	verified, ok := strings.CutPrefix(strings.SplitN(out, "\n", 2)[0], "conc-boot verified "+hash+" ")
	if !ok || !strings.Contains(out, "agent-ran") {
		t.Fatalf("first boot, no stamp: %q; want the agent hashed, stamped and run", out)
	}
	if out := boot(verified); out != "agent-ran\n" {
		t.Errorf("boot with the stamp it reported: %q; want the agent run without a check", out)
	}
	marker := filepath.Join(home, "pwned")
	for _, hostile := range []string{"x' ; touch " + marker + " ; '", "$(touch " + marker + ")", "*", ":"} {
		if out := boot(hostile); !strings.HasPrefix(out, "conc-boot verified "+hash+" ") || !strings.Contains(out, "agent-ran") {
			t.Errorf("boot with stamp %q: %q; want the agent hashed, then run", hostile, out)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a stamp ran as shell text")
	}

	// Same inode, new bytes: the ctime moves, so the stamp no longer matches.
	// File times tick with the kernel's coarse clock; wait for a tick past
	// the agent's, or the write could land on the very ctime it had.
	afterCtime(t, agent)
	f, err := os.OpenFile(agent, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("#!/bin/sh\necho tampered\n"), 0)
	f.Close()
	// A preview (conc check) reports it and leaves it: it changes nothing.
	if out := bootFor(verified, true); strings.Contains(out, "tampered") ||
		out != "conc-boot corrupt "+agent+"\nconc-boot need "+machine(t)+"\n" {
		t.Errorf("preview boot of an agent changed in place: %q; want it reported, then the need, and nothing run", out)
	}
	if _, err := os.Stat(agent); err != nil {
		t.Errorf("a preview removed the changed agent: %v", err)
	}
	out = boot(verified)
	if strings.Contains(out, "tampered") || !strings.Contains(out, "conc-boot replaced "+agent) {
		t.Errorf("boot of an agent changed in place: %q; want it refused and removed", out)
	}
	if _, err := os.Stat(agent); err == nil {
		t.Error("the changed agent is still cached")
	}
}

func machine(t *testing.T) string {
	out, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// afterCtime returns once a file written now gets a later ctime than path.
func afterCtime(t *testing.T, path string) {
	t.Helper()
	ctime := func(p string) syscall.Timespec {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ctim
	}
	was := ctime(path)
	probe := path + ".probe"
	defer os.Remove(probe)
	for {
		if err := os.WriteFile(probe, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if now := ctime(probe); now.Sec > was.Sec || now.Sec == was.Sec && now.Nsec > was.Nsec {
			return
		}
	}
}
