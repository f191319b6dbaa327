package main

import (
	"os"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/sshtest"
	"github.com/concdeploy/conc/internal/testnode"
	"strconv"
)

const touchPlan = `[plan deploy]
step = remote open_bundle
step = remote run touch ../touched.txt
step = remote close_bundle
`

func TestUnknownHostKey(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, touchPlan)
		os.WriteFile(n.KnownHosts, nil, 0o600)
		r := p.conc("deploy", "node1")
		if r.code != 1 || strings.Contains(r.stdout, "BLOCKED") || strings.Contains(r.stdout, "unlock") {
			t.Fatalf("deploy to an unknown host: want ERROR, exit 1, and no word of locks: %s", r)
		}
		for _, want := range []string{"unknown host key", "SHA256:", "--accept-new-host-keys", "ssh-keygen -lf", "record:   conc -f " + p.file + " hostkeys node1"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stdout)
			}
		}
		if exists(p.bundleDir()) || exists(p.nodePath("touched.txt")) || exists(p.nodePath(".cache")) {
			t.Error("something was created on the node of an unverified host")
		}
		r = p.conc("--accept-new-host-keys", "deploy", "node1")
		if r.code != 0 {
			t.Fatalf("deploy with --accept-new-host-keys: %s", r)
		}
		if !exists(p.nodePath("touched.txt")) {
			t.Error("the deploy did not run")
		}
		kh, _ := os.ReadFile(n.KnownHosts)
		if !strings.Contains(string(kh), strings.TrimSpace(string(sshAuthorizedKey(n)))) {
			t.Errorf("known_hosts does not hold the node's key:\n%s", kh)
		}
		if r := p.conc("deploy", "node1"); r.code != 0 {
			t.Errorf("a recorded key is not trusted next time: %s", r)
		}
	})
}

func TestChangedHostKey(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, touchPlan)
		other, err := sshtest.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := sshtest.WriteKnownHosts(n.KnownHosts, n.Addr(), other.PublicKey()); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"deploy", "node1"}, {"--accept-new-host-keys", "deploy", "node1"}} {
			r := p.conc(args...)
			name := "[127.0.0.1]:" + strconv.Itoa(n.Port)
			if r.code != 1 || !strings.Contains(r.stdout, "host key changed") || !strings.Contains(r.stdout, "ssh-keygen -R '"+name+"' -f "+n.KnownHosts) {
				t.Errorf("conc %v with a changed host key: %s", args, r)
			}
		}
		if exists(p.nodePath("touched.txt")) || exists(p.bundleDir()) {
			t.Error("a node with a changed key was touched")
		}
	})
}

func sshAuthorizedKey(n *testnode.Node) []byte {
	line := sshtest.KnownHostsLine(n.Addr(), n.HostKey)
	return []byte(line[strings.IndexByte(line, ' ')+1:])
}

func TestDeployFileErrorBeforeConnecting(t *testing.T) {
	n := &testnode.Node{User: "nobody", Identity: "/nonexistent", KnownHosts: "/nonexistent", Host: "127.0.0.1", Port: 1}
	p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote untarr app.tar.gz
`)
	r := p.conc("deploy", "node1")
	if r.code != 2 {
		t.Fatalf("a deploy-file error: %s", r)
	}
	if !strings.Contains(r.stderr, p.file+":14:") || !strings.Contains(r.stderr, `unknown op "untarr"`) {
		t.Errorf("stderr does not name the file, line and op:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("jobs ran:\n%s", r.stdout)
	}
}

func TestUnknownNodeIsUsageError(t *testing.T) {
	n := &testnode.Node{User: "nobody", Host: "127.0.0.1", Port: 1}
	p := newProject(t, n, touchPlan)
	if r := p.conc("deploy", "node9"); r.code != 2 || !strings.Contains(r.stderr, `no node or group "node9"`) {
		t.Errorf("unknown node: %s", r)
	}
	if r := p.conc("deploy"); r.code != 2 {
		t.Errorf("deploy without a node: %s", r)
	}
}

// TestPlanShape checks, with conc plan, that jobs working in the node's
// bundle come after remote open_bundle: a local copy as much as a remote
// job.
func TestPlanShape(t *testing.T) {
	n := &testnode.Node{User: "nobody", Host: "127.0.0.1", Port: 1}
	for _, tt := range []struct{ steps, want string }{
		{"step = local put conc.ini\nstep = remote open_bundle\n", "step 1 (local put) works in the node's bundle"},
		{"step = remote open_bundle\nstep = remote close_bundle\nstep = remote ping\n", "comes after remote close_bundle"},
		{"step = remote open_bundle\nstep = remote open_bundle\n", "opens the bundle a second time"},
	} {
		p := newProject(t, n, "[plan deploy]\n"+tt.steps)
		if r := p.conc("plan", "deploy", "--node", "node1"); r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: %s", tt.steps, r)
		}
	}
}

func TestSudoFlagWithoutTerminal(t *testing.T) {
	n := &testnode.Node{User: "nobody", Host: "127.0.0.1", Port: 1}
	p := newProject(t, n, "[test x]\nrun = true\n")
	if r := p.conc("test", "node1", "--sudo"); r.code != 2 || !strings.Contains(r.stderr, "not a terminal") {
		t.Errorf("--sudo without a terminal: %s", r)
	}
}
