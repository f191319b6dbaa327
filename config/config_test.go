package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/localops"
	"github.com/concdeploy/conc/jobs/nodeops"
	"github.com/concdeploy/conc/nodetest"
)

// write puts a deploy file in a temporary directory and returns its path.
func write(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

const good = `; a deploy file
[defaults]
admin = deploy                 ; SSH user
sshd.port = 22
bundle = .conc-bundle
venv = venvs/app
timeout = 10m

[node node1]
sshd.ip = 192.0.2.10

[node node2]
sshd.ip = 192.0.2.11
venv = venvs/${name}-app

[group web]
nodes = node1 node2
admin = webadmin

[plan deploy]
step = remote open_bundle
step = remote run echo ${venv}
step = remote run echo ${venv}
step = remote pip_install_like --timeout=5m x
`

func TestResolve(t *testing.T) {
	f, err := Load(write(t, "conc.ini", strings.Replace(good, "pip_install_like --timeout=5m x", "run --timeout=5m x", 1)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		node, key, want, wantPos string
	}{
		{"node1", "admin", "webadmin", "conc.ini:18"},
		{"node1", "venv", "venvs/app", "conc.ini:6"},
		{"node2", "venv", "venvs/node2-app", "conc.ini:14"},
		{"node1", "sshd.ip", "192.0.2.10", "conc.ini:10"},
		{"node1", "known_hosts", "~/.ssh/known_hosts", "built-in default"},
		{"node1", "local_bundle", "~/.conc/bundles/node1", "built-in default"},
		{"node1", "name", "node1", "conc.ini:9"},
	}
	for _, tt := range tests {
		t.Run(tt.node+"/"+tt.key, func(t *testing.T) {
			n, err := f.Node(tt.node)
			if err != nil {
				t.Fatal(err)
			}
			p := n.Params[tt.key]
			if p.Value != tt.want {
				t.Errorf("%s = %q, want %q", tt.key, p.Value, tt.want)
			}
			if !strings.HasSuffix(p.Pos.String(), tt.wantPos) {
				t.Errorf("%s set at %s, want %s", tt.key, p.Pos, tt.wantPos)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	f, err := Load(write(t, "conc.ini", strings.Replace(good, "pip_install_like --timeout=5m x", "run --timeout=5m x", 1)))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := f.Node("node2")
	p, err := f.Plan(testOps, "deploy", n)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 4 {
		t.Fatalf("%d steps, want 4: repeated identical step lines must all stay", len(p.Steps))
	}
	if got := p.Steps[1].Job.Args; len(got) != 2 || got[1] != "venvs/node2-app" {
		t.Errorf("step 2 args %q, want the node's venv substituted", got)
	}
	if p.Steps[1].Job.Timeout.String() != "10m0s" || p.Steps[3].Job.Timeout.String() != "5m0s" {
		t.Errorf("timeouts %s and %s, want the default 10m and the step's 5m", p.Steps[1].Job.Timeout, p.Steps[3].Job.Timeout)
	}
	if p.Steps[3].Pos.Line != 24 {
		t.Errorf("step 4 at line %d, want 24", p.Steps[3].Pos.Line)
	}
	n1, _ := f.Node("node1")
	p1, _ := f.Plan(testOps, "deploy", n1)
	if p1.Hash == p.Hash {
		t.Error("plans that resolve differently have the same hash")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, content string
		node, plan    string
		wantLine      int
		wantMsg       string
	}{
		{"unknown op", good, "node1", "deploy", 24, `unknown op "pip_install_like"`},
		{"unknown section", "[nodes node1]\nsshd.ip = x\n", "", "", 1, "unknown section"},
		{"outside section", "admin = x\n[node a]\nsshd.ip = x\n", "", "", 1, "outside any section"},
		{"no sshd.ip", "[node a]\nadmin = x\n", "a", "", 1, "no sshd.ip"},
		{"bad port", "[node a]\nsshd.ip = x\nsshd.port = ssh\n", "a", "", 3, "not a port"},
		{"undefined ref", "[defaults]\nvenv = ${nope}/x\n[node a]\nsshd.ip = x\n", "a", "", 2, "${nope} is not set"},
		{"cycle", "[defaults]\nx = ${y}\ny = ${x}\n[node a]\nsshd.ip = x\n", "a", "", 2, "refers to itself"},
		{"set twice", "[node a]\nsshd.ip = x\nsshd.ip = y\n", "a", "", 3, "set twice"},
		{"duplicate section", "[node a]\nsshd.ip = x\n[node a]\nadmin = y\n", "", "", 3, "appears twice"},
		{"group names unknown node", "[node a]\nsshd.ip = x\n[group g]\nnodes = a b\n", "", "", 4, `names node "b"`},
		{"plan with other key", "[node a]\nsshd.ip = x\n[plan p]\nstep = remote ping\nsteps = x\n", "", "", 5, "holds only step"},
		{"empty plan", "[node a]\nsshd.ip = x\n[plan p]\n", "", "", 3, "has no steps"},
		{"bad step quote", "[node a]\nsshd.ip = x\n[plan p]\nstep = remote open_bundle\nstep = remote run \"echo\n", "a", "p", 5, "unterminated"},
		{"bad host", "[node a]\nsshd.ip = x\n[plan p]\nstep = there run x\n", "a", "p", 4, "neither local nor remote"},
		{"bad bundle", "[node a]\nsshd.ip = x\nbundle = ../x\n", "a", "", 3, "below the admin's home"},
		{"bad timeout", "[defaults]\ntimeout = soon\n[node a]\nsshd.ip = x\n", "a", "", 2, "not a duration"},
		{"no equals", "[node a]\nsshd.ip\n", "", "", 2, "KEY = VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, "site.ini", tt.content)
			f, err := Load(path)
			if err == nil && tt.node != "" {
				var n *Node
				n, err = f.Node(tt.node)
				if err == nil && tt.plan != "" {
					_, err = f.Plan(testOps, tt.plan, n)
				}
			}
			if err == nil && tt.plan != "" && tt.node == "" {
				t.Fatal("bad test")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a config error", err)
			}
			if ce.Pos.File != path || ce.Pos.Line != tt.wantLine {
				t.Errorf("error at %s, want %s:%d", ce.Pos, path, tt.wantLine)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("error %q, want it to start with the file and contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "conc.ini"))
	if err == nil || !strings.Contains(err.Error(), "no deploy file") {
		t.Errorf("got %v, want a missing-file error", err)
	}
}

func TestLayers(t *testing.T) {
	base := write(t, "conc.ini", "[defaults]\nadmin = deploy\n[plan deploy]\nstep = remote open_bundle\n")
	site := write(t, "node.ini", "[node demo]\nsshd.ip = 127.0.0.1\nsshd.port = 2222\n[defaults]\nadmin = me\n")
	f, err := Load(base, site)
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.Node("demo")
	if err != nil {
		t.Fatal(err)
	}
	if n.Get("admin") != "me" || n.Addr() != "127.0.0.1:2222" {
		t.Errorf("admin %q addr %q: want the later file to win", n.Get("admin"), n.Addr())
	}
	if f.Dir != filepath.Dir(base) {
		t.Errorf("Dir %s, want the first file's directory", f.Dir)
	}
}

func TestTargets(t *testing.T) {
	f, err := Load(write(t, "conc.ini", strings.Replace(good, "pip_install_like", "run", 1)))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := f.Targets([]string{"node2", "web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].Name != "node2" || nodes[1].Name != "node1" {
		t.Errorf("targets %v, want node2 then node1, each once", nodes)
	}
	if _, err := f.Targets([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "known: node1, node2, web") {
		t.Errorf("unknown target: %v", err)
	}
}

func TestIPv6Addr(t *testing.T) {
	n := &Node{Params: map[string]Param{KeyIP: {Value: "::1"}, KeyPort: {Value: "22"}}}
	if got := n.Addr(); got != "[::1]:22" {
		t.Errorf("Addr = %s", got)
	}
}

func TestDollarsStayLiteral(t *testing.T) {
	f, err := Load(write(t, "conc.ini", "[defaults]\nx = 1\n[node a]\nsshd.ip = h\n[plan p]\nstep = remote open_bundle\nstep = remote run \"echo $$ $HOME $${x} ${x}\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := f.Node("a")
	p, err := f.Plan(testOps, "p", n)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Steps[1].Job.Args[0], "echo $$ $HOME ${x} 1"; got != want {
		t.Errorf("step = %q, want %q", got, want)
	}
}

func TestNodeOfGroupName(t *testing.T) {
	f, err := Load(write(t, "conc.ini", "[node a]\nsshd.ip = x\n[node b]\nsshd.ip = y\n[group web]\nnodes = a b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Node("web"); err == nil || !strings.Contains(err.Error(), "web is a group; this takes one node: one of a, b") {
		t.Errorf("Node(group) = %v", err)
	}
}

// testOps are conc's own ops, as cmd/conc hands them to the loader.
var testOps = jobs.MustCatalogue(nodeops.Ops(), localops.Ops(), []jobs.Op{nodetest.Op()})
