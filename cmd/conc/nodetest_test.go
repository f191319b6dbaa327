package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
)

// twoNodes writes a deploy file for two nodes with the given sections.
func twoNodes(t *testing.T, a, b *testnode.Node, sections string) *project {
	t.Helper()
	p := newProject(t, a, "")
	node := func(name string, n *testnode.Node) string {
		return fmt.Sprintf("[node %s]\nadmin = %s\nidentity = %s\nknown_hosts = %s\nsshd.ip = %s\nsshd.port = %d\nlocal_bundle = %s\n\n",
			name, n.User, n.Identity, n.KnownHosts, n.Host, n.Port, filepath.Join(p.dir, "local-"+name))
	}
	ini := "[defaults]\nbundle = .conc-bundle\n\n" + node("node1", a) + node("node2", b) + "[group web]\nnodes = node1 node2\n\n" + sections
	if err := os.WriteFile(p.file, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const nodeTests = `[test marker]
file = marker.txt
contains = ready

[test answer]
run = echo 42
expect = 42

[test broken]
nodes = node2
run = echo 34
expect = 35

[test later]
run = false
skip = not before the next release

[plan deploy]
step = remote open_bundle
step = remote nodetest
step = remote close_bundle
`

func TestNodeTests(t *testing.T) {
	a, b := testnode.OpenSSH(t), testnode.OpenSSH(t)
	os.WriteFile(filepath.Join(a.Home, "marker.txt"), []byte("ready\n"), 0o644)
	os.WriteFile(filepath.Join(b.Home, "marker.txt"), []byte("ready\n"), 0o644)
	p := twoNodes(t, a, b, nodeTests)
	junit := filepath.Join(p.dir, "results.xml")
	r := p.conc("test", "web", "--junit", junit)
	if r.code != 1 {
		t.Fatalf("conc test with a failing test: %s", r)
	}
	for _, want := range []string{
		"=== RUN   node1/marker\n--- PASS: node1/marker",
		"--- PASS: node2/answer",
		"--- FAIL: node2/broken",
		`    stdout is "34", want "35"`,
		"--- SKIP: node1/later",
		"    not before the next release",
		"node1: 2 passed, 0 failed, 1 skipped",
		"node2: 2 passed, 1 failed, 1 skipped",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "node1/broken") {
		t.Error("a test for node2 only ran on node1")
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Skipped  int    `xml:"skipped,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(readFile(t, junit)), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 2 || doc.Suites[0].Name != "node1" || doc.Suites[1].Name != "node2" {
		t.Fatalf("suites: %+v", doc.Suites)
	}
	if s := doc.Suites[0]; s.Tests != 3 || s.Failures != 0 || s.Skipped != 1 {
		t.Errorf("node1 suite: %+v", s)
	}
	if s := doc.Suites[1]; s.Tests != 4 || s.Failures != 1 || s.Skipped != 1 || s.Cases[2].Name != "broken" || s.Cases[2].Failure == nil {
		t.Errorf("node2 suite: %+v", s)
	}

	r = p.conc("test", "web", "-run", "marker|answer")
	if r.code != 0 || strings.Contains(r.stdout, "broken") || !strings.Contains(r.stdout, "node2: 2 passed, 0 failed, 0 skipped") {
		t.Errorf("-run selection: %s", r)
	}
	r = p.conc("test", "node2", "--json", "--run", "broken")
	var res struct{ Event, Node, Test, Status string }
	if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 1 || err != nil ||
		res != (struct{ Event, Node, Test, Status string }{"test", "node2", "broken", "fail"}) {
		t.Errorf("--json: %+v, %v: %s", res, err, r)
	}

	if r := p.conc("test", "web", "--run", "nomatch"); r.code != 1 || !strings.Contains(r.stderr, `no test matches --run "nomatch"`) {
		t.Errorf("--run matching nothing: %s", r)
	}
	if r := p.conc("test", "web", "--junit", filepath.Join(p.dir, "missing", "r.xml")); r.code != 2 || strings.Contains(r.stdout, "=== RUN") {
		t.Errorf("--junit into a missing directory: %s", r)
	}

	// In a plan, the tests are a job: FAILED naming the failures.
	r = p.conc("deploy", "node2")
	if r.code != 1 || !strings.Contains(r.stdout, "failed: broken") {
		t.Errorf("nodetest step: %s", r)
	}
	if r := p.conc("deploy", "node1"); r.code != 0 {
		t.Errorf("nodetest step on a node whose tests pass: %s", r)
	}
	// node2 is locked by its failed run now; conc test says so and runs.
	r = p.conc("test", "node2", "--run", "answer")
	if r.code != 0 || !strings.Contains(r.stdout, "# node2: locked by") {
		t.Errorf("test of a locked node: %s", r)
	}
}

func TestNodeTestLoadErrors(t *testing.T) {
	n := &testnode.Node{User: "nobody", Host: "127.0.0.1", Port: 1}
	for _, tt := range []struct{ section, want string }{
		{"[test x]\nrun = true\nexpct = 1\n", `conc.ini:14: [test x]: unknown key "expct"`},
		{"[test x]\nrun = true\nexpect_regex = (\n", "conc.ini:14: [test x]: expect_regex"},
		{"[test x]\nexpect = 1\n", "conc.ini:12: [test x]: checks nothing"},
	} {
		p := newProject(t, n, tt.section)
		r := p.conc("test", "node1")
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: %s", tt.section, r)
		}
	}
	p := newProject(t, n, "[test x]\nrun = true\n")
	if r := p.conc("test", "node1", "--run", "("); r.code != 2 {
		t.Errorf("bad --run: %s", r)
	}
}

func TestNodeTestSudoCanary(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		installFakeSudo(t, n, canary)
		p := newProject(t, n, "[test root-reads]\nrun = echo 35\nsudo = yes\nexpect = 35\n")
		pw := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pw, []byte(canary+"\n"), 0o600)
		logFile := filepath.Join(p.dir, "conc.log")
		junit := filepath.Join(p.dir, "junit.xml")
		r := p.conc("-v", "--log-file", logFile, "test", "node1", "--sudo-password-file", pw, "--junit", junit)
		if r.code != 0 || !strings.Contains(r.stdout, "--- PASS: node1/root-reads") {
			t.Fatalf("sudo test: %s", r)
		}
		if !strings.Contains(readFile(t, p.nodePath("sudo-argv.log")), "-S -p") {
			t.Fatal("the test did not go through sudo")
		}
		for name, content := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "log": readFile(t, logFile), "junit": readFile(t, junit),
			"sudo argv": readFile(t, p.nodePath("sudo-argv.log")), "sudo env": readFile(t, p.nodePath("sudo-env.log"))} {
			if strings.Contains(content, canary) {
				t.Errorf("the sudo password appears in %s", name)
			}
		}
	})
}
