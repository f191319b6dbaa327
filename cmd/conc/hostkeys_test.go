package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/sshtest"
	"golang.org/x/crypto/ssh"
)

// TestHostkeysFirstContact: three new nodes share a known_hosts that
// knows none of them. conc hostkeys shows all three keys, asks once, and
// records nothing on no and all three on yes; a deploy then needs no
// --accept-new-host-keys. A changed key is shown, named and never recorded.
func TestHostkeysFirstContact(t *testing.T) {
	f := newFleet(t, 3)
	kh := f.newKnownHosts(t)
	if r := f.conc("deploy", "web"); r.code != 1 || !strings.Contains(r.stdout, "unknown host key") {
		t.Fatalf("deploy to nodes whose keys are unknown: %s", r)
	}

	var questions []string
	hostkeys := func(answer bool, args ...string) result {
		return inApp(f.project, "", func(a *app) int {
			a.ask = func(q string) (bool, error) { questions = append(questions, q); return answer, nil }
			return a.execute(context.Background(), append([]string{"-f", f.file, "hostkeys"}, args...))
		})
	}
	r := hostkeys(false, "web")
	if r.code != 3 || len(questions) != 1 || !strings.Contains(questions[0], "record these 3 new host key(s)?") || exists(kh) {
		t.Fatalf("hostkeys answered no: questions %q, known_hosts exists %v: %s", questions, exists(kh), r)
	}
	for i, n := range f.nodes {
		fp := ssh.FingerprintSHA256(n.HostKey)
		if !strings.Contains(r.stdout, fp) || !strings.Contains(r.stdout, n.Addr()) {
			t.Errorf("the table lacks node%d's address %s or fingerprint %s:\n%s", i+1, n.Addr(), fp, r.stdout)
		}
	}
	questions = nil
	if r := hostkeys(true, "web"); r.code != 0 || len(questions) != 1 || !strings.Contains(r.stdout, "recorded 3 host key(s)") {
		t.Fatalf("hostkeys answered yes: questions %q: %s", questions, r)
	}
	if lines := strings.Split(strings.TrimSpace(readFile(t, kh)), "\n"); len(lines) != 3 {
		t.Errorf("known_hosts has %d lines, want 3:\n%s", len(lines), readFile(t, kh))
	}
	if r := f.conc("deploy", "web"); r.code != 0 {
		t.Fatalf("deploy after conc hostkeys: %s", r)
	}

	// node2's line now holds node1's key: conc hostkeys refuses it, names
	// it, and changes nothing.
	wrong := sshtest.KnownHostsLine(f.nodes[0].Addr(), f.nodes[0].HostKey) + "\n" +
		sshtest.KnownHostsLine(f.nodes[1].Addr(), f.nodes[0].HostKey) + "\n" +
		sshtest.KnownHostsLine(f.nodes[2].Addr(), f.nodes[2].HostKey) + "\n"
	os.WriteFile(kh, []byte(wrong), 0o600)
	before := readFile(t, kh)
	r = f.conc("hostkeys", "web", "--yes")
	if r.code != 1 || !strings.Contains(r.stdout, "CHANGED") || readFile(t, kh) != before {
		t.Errorf("a changed key: %s\nknown_hosts changed: %v", r, readFile(t, kh) != before)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "CHANGED") && !strings.HasPrefix(line, "node2 ") {
			t.Errorf("the changed key is not node2's: %q", line)
		}
	}
}

// TestAcceptNewSaysWhatItRecorded: --accept-new-host-keys on a group
// records each new node's key and says which, in order with the job lines.
func TestAcceptNewSaysWhatItRecorded(t *testing.T) {
	f := newFleet(t, 2)
	kh := f.newKnownHosts(t)
	r := f.conc("--accept-new-host-keys", "deploy", "web")
	if r.code != 0 {
		t.Fatalf("deploy: %s", r)
	}
	for i, n := range f.nodes {
		want := fmt.Sprintf("conc: recorded the host key of node%d (%s) ssh-ed25519 %s in %s\n", i+1, n.Addr(), ssh.FingerprintSHA256(n.HostKey), kh)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the output lacks %q: %s", want, r)
		}
	}
	if r := f.conc("--accept-new-host-keys", "deploy", "web"); r.code != 0 || strings.Contains(r.stdout+r.stderr, "recorded") {
		t.Errorf("a second run recorded keys again: %s", r)
	}
}

// newKnownHosts points every node of the fleet at one known_hosts file,
// not yet made, that knows none of them, and returns its path.
func (f *fleet) newKnownHosts(t *testing.T) string {
	t.Helper()
	kh := filepath.Join(f.dir, "known_hosts")
	ini := readFile(t, f.file)
	for _, n := range f.nodes {
		ini = strings.ReplaceAll(ini, "known_hosts = "+n.KnownHosts+"\n", "known_hosts = "+kh+"\n")
	}
	if err := os.WriteFile(f.file, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	return kh
}
