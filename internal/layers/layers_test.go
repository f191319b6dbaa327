package layers

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/concdeploy/conc/"

// allowed are the arrows of docs/architecture.md: for each package, the
// packages of this module it may import. A package missing here fails the
// test: a new room is drawn on the map before it is built.
var allowed = map[string][]string{
	// Shared by both sides: the wire, the job model, durable files.
	"channel":            {},
	"jobs":               {},
	"internal/durable":   {},
	"internal/livelock":  {},
	"internal/bytesize":  {},
	"internal/smalldisk": {},
	"bundle":             {"channel"},
	"config":             {"bundle", "internal/bytesize", "jobs"},
	"jobs/nodeops":       {"internal/bytesize", "jobs"},
	"jobs/localops":      {"channel", "jobs", "internal/durable"},
	"nodetest":           {"jobs"},
	"nodetest/report":    {"nodetest"},
	"paramuse":           {"config", "jobs"},
	// The node.
	"blobstore":      {"bundle", "channel"},
	"agent":          {"blobstore", "bundle", "channel", "internal/durable", "internal/livelock", "jobs"},
	"cmd/conc-agent": {"agent", "channel", "jobs", "jobs/nodeops", "nodetest"},
	// The workstation.
	"sshtarget":   {"config"},
	"sshconn":     {"config", "jobs", "sshtarget"},
	"agentclient": {"bundle", "channel", "config", "internal/durable", "jobs", "sshconn"},
	"bundlefs":    {"jobs"},
	"bundleshell": {"bundle", "bundlefs", "internal/bytesize", "jobs"},
	"nodelock":    {"agentclient", "bundle", "channel", "config", "jobs", "sshconn"},
	"nodecache":   {"agentclient", "channel", "config", "internal/bytesize", "jobs", "nodelock", "sshconn"},
	"runstate":    {"bundle", "internal/durable", "jobs"},
	"rollout":     {"config", "jobs"},
	"prompt":      {"deploy", "jobs"},
	"runreport":   {"bundle", "jobs"},
	"preflight":   {"agentclient", "bundlefs", "channel", "config", "jobs", "jobs/localops", "nodelock", "runreport", "sshconn"},
	"deploy": {"agentclient", "bundle", "bundlefs", "channel", "config", "jobs", "jobs/localops",
		"nodelock", "nodetest", "paramuse", "preflight", "rollout", "runreport", "runstate", "sshconn", "testrun"},
	"testrun": {"agentclient", "channel", "config", "jobs", "nodelock", "nodetest", "runreport", "sshconn"},
	"cmd/conc": {"agentclient", "bundleshell", "config", "deploy", "internal/durable", "internal/sshtest",
		"jobs", "jobs/localops", "jobs/nodeops", "nodecache", "nodelock", "nodetest", "nodetest/report", "paramuse", "prompt", "rollout", "runreport", "sshconn", "sshtarget", "testrun"},
	// Test support and the benchmarks.
	"internal/sshtest":  {},
	"internal/sftptest": {},
	"internal/wanproxy": {},
	"internal/testnode": {"internal/sshtest"},
	"internal/layers":   {},
	"bench":             {},
}

// maxLines is the size of a room: a package with more lines than this,
// tests aside, holds more than one concern.
const maxLines = 1500

func goList(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return out
}

func TestImportsFollowTheMap(t *testing.T) {
	out := goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(f[0], module)
		ok, known := allowed[pkg]
		if !known {
			t.Errorf("%s is not on the map: add it to docs/architecture.md and to allowed", pkg)
			continue
		}
		for _, imp := range f[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if strings.HasPrefix(dep, "cmd/") {
				t.Errorf("%s imports %s: nothing imports a command", pkg, dep)
			}
			if !slices.Contains(ok, dep) {
				t.Errorf("%s imports %s, an arrow docs/architecture.md does not draw", pkg, dep)
			}
		}
	}
}

func TestAgentLinksNoSSH(t *testing.T) {
	deps := string(goList(t, "-deps", "./cmd/conc-agent"))
	for _, banned := range []string{"golang.org/x/crypto/ssh", "github.com/pkg/sftp", module + "agentclient", module + "deploy"} {
		for _, d := range strings.Fields(deps) {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("the agent links %s", d)
			}
		}
	}
}

func TestRoomsStaySmall(t *testing.T) {
	out := goList(t, "-f", "{{.ImportPath}} {{.Dir}} {{join .GoFiles \" \"}}", "./...")
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		lines := 0
		for _, name := range f[2:] {
			b, err := os.ReadFile(filepath.Join(f[1], name))
			if err != nil {
				t.Fatal(err)
			}
			lines += bytes.Count(b, []byte("\n"))
		}
		if lines > maxLines {
			t.Errorf("%s has %d lines of code, more than %d: it holds more than one concern", strings.TrimPrefix(f[0], module), lines, maxLines)
		}
	}
}

// agentBudget is the size the agent may have: linux/amd64, built as make
// agents builds it (static, stripped). DESIGN.md sets it: the agent is
// uploaded to a node that lacks it, and hashed at every start that finds
// it changed.
const agentBudget = 4 << 20

// TestAgentFitsItsBudget builds the agent as make agents does. After make
// build, the build is cached; from a cold cache it takes some 15 s, so
// -short skips it.
func TestAgentFitsItsBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent")
	}
	out := filepath.Join(t.TempDir(), "conc-agent-linux-amd64")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/conc-agent")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the agent: %v\n%s", err, b)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() <= agentBudget {
		t.Logf("the linux/amd64 agent is %d bytes, %s under its budget of %d", fi.Size(), kib(agentBudget-fi.Size()), agentBudget)
	} else {
		t.Errorf("the linux/amd64 agent is %d bytes, %s over its budget of %d (4 MiB, DESIGN.md); "+
			"go tool nm -size -sort size on an unstripped build shows what it links, "+
			"and go build -ldflags=-dumpdep why", fi.Size(), kib(fi.Size()-agentBudget), agentBudget)
	}
}

func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }
