package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/internal/testnode"
)

// The agents and the conc binary, built once per test binary.
var (
	buildOnce sync.Once
	buildErr  error
	buildDir  string
	agentDir  string
	concBin   string
	agents    agentclient.Agents
)

// TestMain keeps what conc writes to the user's cache (the stamps of
// checked agents) in a directory of the test binary's own, which every
// conc it runs, in process or not, inherits; and removes it, with the
// binaries, at the end.
func TestMain(m *testing.M) {
	cache, err := os.MkdirTemp("", "conc-e2e-cache")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	os.RemoveAll(cache)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// repoRoot is the module's root, two levels up from cmd/conc.
func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(filepath.Dir(wd))
}

// build builds the agent for this machine's architecture, the way make
// build does, into a temporary directory, and conc itself; a subprocess conc
// is pointed at the agent with --agent-dir. The source tree is left alone:
// go test compiles other packages, which embed controller/agents, at the
// same time.
func build(tb testing.TB) {
	tb.Helper()
	buildOnce.Do(func() {
		root := repoRoot()
		tmp, err := os.MkdirTemp("", "conc-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = tmp
		agentDir = filepath.Join(tmp, "agents")
		out := filepath.Join(agentDir, "conc-agent-linux-"+runtime.GOARCH)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/conc-agent")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build the agent: %v\n%s", err, b)
			return
		}
		concBin = filepath.Join(tmp, "conc")
		cmd = exec.Command("go", "build", "-o", concBin, "./cmd/conc")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build conc: %v\n%s", err, b)
			return
		}
		agents, buildErr = agentclient.AgentsFromDir(agentDir)
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
}

// project is a deploy file next to a node, and the workstation side of a
// test: its own state, local bundle and known_hosts.
type project struct {
	t      *testing.T
	layers []string // deploy files read before file
	extra  string   // more [defaults] lines
	node   *testnode.Node
	dir    string
	file   string
	bundle string
	local  string
}

// newProject writes conc.ini for node n with the given plans appended.
func newProject(t *testing.T, n *testnode.Node, plans string) *project {
	t.Helper()
	build(t)
	dir := t.TempDir()
	p := &project{t: t, node: n, dir: dir, file: filepath.Join(dir, "conc.ini"),
		bundle: ".conc-bundle", local: filepath.Join(dir, "local-bundle")}
	p.write(plans)
	return p
}

func (p *project) write(plans string) {
	p.t.Helper()
	ini := fmt.Sprintf(`[defaults]
admin = %s
identity = %s
known_hosts = %s
bundle = %s
local_bundle = %s
%s
[node node1]
sshd.ip = %s
sshd.port = %d

%s`, p.node.User, p.node.Identity, p.node.KnownHosts, p.bundle, p.local, p.extra, p.node.Host, p.node.Port, plans)
	if err := os.WriteFile(p.file, []byte(ini), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// result is what a conc command printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// conc runs conc in-process with buffers, the agents built for the test.
func (p *project) conc(args ...string) result {
	return p.concCtx(context.Background(), args...)
}

func (p *project) concCtx(ctx context.Context, args ...string) result {
	p.t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, agents: agents}
	var files []string
	for _, f := range append(p.layers, p.file) {
		files = append(files, "-f", f)
	}
	code := a.execute(ctx, append(files, args...))
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// nodePath is a path on the node, relative to its home.
func (p *project) nodePath(rel string) string { return filepath.Join(p.node.Home, rel) }

func (p *project) bundleDir() string { return p.nodePath(p.bundle) }

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// start runs the conc binary as a process of its own, for tests that
// signal it, and returns it and a channel that yields its result when it
// exits.
func (p *project) start(args ...string) (*exec.Cmd, <-chan result) {
	p.t.Helper()
	out := &bytes.Buffer{}
	cmd := exec.Command(concBin, append([]string{"--agent-dir", agentDir, "-f", p.file}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() {
		cmd.Wait()
		done <- result{stdout: out.String(), code: cmd.ProcessState.ExitCode()}
	}()
	return cmd, done
}
