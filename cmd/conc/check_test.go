package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/internal/testnode"
)

// tree is every entry under a directory: its path, type and mode, mtime,
// and a file's sha256 or a link's target.
func tree(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", p, fi.Mode(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			line += " " + hex.EncodeToString(sum[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			to, _ := os.Readlink(p)
			line += " -> " + to
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestDryRun previews a deploy on a node that has never seen conc, then on
// one a stopped run holds, and checks that neither preview changed any
// file, directory, mode or mtime in the node's home, the agent's cache and
// the bundle included; and that the previews said what the run would
// change (a template's diff), what it lacks (a local file) and that the
// lock is held.
func TestDryRun(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		p.extra = "x.port = 8080\n"
		p.write(`[plan deploy]
step = remote open_bundle
step = remote template app.tmpl conf/app.conf --mode 0644
step = local put dist/*.whl
step = remote close_bundle
`)
		os.WriteFile(filepath.Join(p.dir, "app.tmpl"), []byte("name = {{.name}}\nport = {{index . \"x.port\"}}\n"), 0o644)
		os.MkdirAll(p.nodePath("conf"), 0o755)
		os.WriteFile(p.nodePath("conf/app.conf"), []byte("name = node1\nport = 80\n"), 0o644)

		before := tree(t, n.Home)
		r := p.conc("deploy", "node1", "--dry-run")
		if r.code != 1 {
			t.Fatalf("a dry run with a missing file: want exit 1: %s", r)
		}
		for _, want := range []string{"nothing on node1 is changed", "not cached on the node", "~/.conc-bundle is free",
			"would change conf/app.conf on node1", "-port = 80", "+port = 8080", "FAILED", "dist/*.whl"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the dry run does not say %q: %s", want, r)
			}
		}
		if after := tree(t, n.Home); after != before {
			t.Fatalf("the dry run changed the node:\nbefore:\n%s\nafter:\n%s", before, after)
		}

		os.MkdirAll(filepath.Join(p.dir, "dist"), 0o755)
		os.WriteFile(filepath.Join(p.dir, "dist", "app-1.0.whl"), []byte("wheel"), 0o644)
		if r := p.conc("deploy", "node1", "--stop-after", "1"); r.code != 4 {
			t.Fatalf("a run stopped after open_bundle: %s", r)
		}
		before = tree(t, n.Home)
		r = p.conc("check", "node1")
		if r.code != 3 {
			t.Fatalf("check of a locked node: want exit 3: %s", r)
		}
		for _, want := range []string{"cached on the node", "BLOCKED lock", "holder:", "would send 1 file(s), 5 bytes"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("the check does not say %q: %s", want, r)
			}
		}
		if after := tree(t, n.Home); after != before {
			t.Fatalf("the check changed the node:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		if r := p.conc("deploy", "node1", "--resume"); r.code != 0 {
			t.Fatalf("resume: %s", r)
		}
		if r := p.conc("check", "node1"); r.code != 0 || !strings.Contains(r.stdout, "conf/app.conf on node1 already holds it") ||
			!strings.Contains(r.stdout, "would send 0 file(s), 0 bytes, into the bundle; 1 from the node's store") {
			t.Errorf("the check after the deploy: %s", r)
		}
		// The wheel changed: the store lacks it. Asking the store changes
		// nothing on the node (blobstore's TestHolds: nor a blob's last use).
		os.WriteFile(filepath.Join(p.dir, "dist", "app-1.0.whl"), []byte("wheel 2"), 0o644)
		before = tree(t, n.Home)
		if r := p.conc("check", "node1"); r.code != 0 || !strings.Contains(r.stdout, "would send 1 file(s), 7 bytes, into the bundle: app-1.0.whl (7 bytes)") ||
			strings.Contains(r.stdout, "from the node's store") {
			t.Errorf("the check after the wheel changed: %s", r)
		}
		if after := tree(t, n.Home); after != before {
			t.Fatalf("the check changed the node:\nbefore:\n%s\nafter:\n%s", before, after)
		}

		// A cached agent changed on the node: a run removes it, never runs
		// it; a check says so and leaves it.
		cached, _ := filepath.Glob(p.nodePath(".cache/conc/conc-agent-*"))
		if len(cached) != 1 {
			t.Fatalf("cached agents: %v", cached)
		}
		f, _ := os.OpenFile(cached[0], os.O_WRONLY|os.O_APPEND, 0)
		f.Write([]byte{0})
		f.Close()
		before = tree(t, n.Home)
		r = p.conc("check", "node1")
		if r.code != 0 || !strings.Contains(r.stdout, "does not match its sha256: a run removes it") {
			t.Errorf("a check with a changed cached agent: %s", r)
		}
		if after := tree(t, n.Home); after != before {
			t.Fatalf("the check changed the node:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

// TestParams sets a param with -p: conc config shows where it came from,
// the run uses it, and a resume without -p applies it again, as its
// journal on the node recorded it. A -p whose key nothing uses is refused
// with a suggestion.
func TestParams(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, "")
		p.extra = "release = 1.0\n"
		p.write(`[plan deploy]
step = remote open_bundle
step = remote run "echo ${release} >> ../release.log"
step = remote run "echo ${release} >> ../release.log"
step = remote close_bundle
`)
		r := p.conc("config", "node1", "-p", "release=1.5")
		if r.code != 0 || !strings.Contains(r.stdout, "1.5") || !strings.Contains(r.stdout, "-p (command line)") {
			t.Errorf("conc config with -p: %s", r)
		}
		if r := p.conc("deploy", "node1", "-p", "relese=2"); r.code != 2 || !strings.Contains(r.stderr, "did you mean -p release=") {
			t.Errorf("a typo'd -p: %s", r)
		}
		if r := p.conc("deploy", "node1", "-p", "sudo_password=x"); r.code != 2 || !strings.Contains(r.stderr, "secret") {
			t.Errorf("a secret in -p: %s", r)
		}
		r = p.conc("deploy", "node1", "-p", "release=1.5", "--stop-after", "2")
		if r.code != 4 || !strings.Contains(r.stdout, "-p release=1.5 deploy node1 --resume") {
			t.Fatalf("a run stopped with -p: want its continue command to carry -p: %s", r)
		}
		if r := p.conc("deploy", "node1", "--resume"); r.code != 0 || !strings.Contains(r.stdout, "with the run's -p release=1.5") {
			t.Fatalf("resume without -p: %s", r)
		}
		if got := readFile(t, p.nodePath("release.log")); got != "1.5\n1.5\n" {
			t.Errorf("the steps saw release %q, want 1.5 both before and after the resume", got)
		}

		// A param that decides where the run works, from this
		// workstation's journal, before conc connects.
		r = p.conc("deploy", "node1", "-p", "bundle=.other bundle", "--stop-after", "1")
		if r.code != 4 || !exists(p.nodePath(".other bundle")) {
			t.Fatalf("a run in another bundle: %s", r)
		}
		if r := p.conc("deploy", "node1", "--resume"); r.code != 0 || exists(p.nodePath(".other bundle")) {
			t.Fatalf("the resume of the run in another bundle: %s", r)
		}
		// From another workstation (another state directory), the node's
		// record says what the run began with, and the resume is refused
		// with the command that has it.
		if r := p.conc("deploy", "node1", "-p", "release=2 0", "--stop-after", "2"); r.code != 4 {
			t.Fatalf("a run stopped with -p: %s", r)
		}
		other := filepath.Join(t.TempDir(), "state")
		r = p.conc("--state-dir", other, "deploy", "node1", "--resume")
		if r.code != 2 || !strings.Contains(r.stdout, "-p 'release=2 0' deploy node1 --resume") {
			t.Fatalf("a resume without the run's -p, from elsewhere: want it refused, naming the command: %s", r)
		}
		if r := p.conc("--state-dir", other, "-p", "release=2 0", "deploy", "node1", "--resume"); r.code != 0 {
			t.Fatalf("the resume with the run's -p, from elsewhere: %s", r)
		}
		if got := readFile(t, p.nodePath("release.log")); !strings.HasSuffix(got, "2 0\n2 0\n") {
			t.Errorf("release.log after the resume from elsewhere: %q", got)
		}
	})
}

// TestCopyChange copies into a bundle that already has the files, as a
// resume from an earlier step does: files the node has as they are here
// (size, mode, mtime) are not sent again and the job says unchanged; a
// file changed by hand on the node is sent again.
func TestCopyChange(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = local put dist/a.txt
step = local copy_product app
step = remote close_bundle
`)
		os.MkdirAll(filepath.Join(p.dir, "dist"), 0o755)
		os.MkdirAll(filepath.Join(p.dir, "app", "lib"), 0o755)
		os.WriteFile(filepath.Join(p.dir, "dist", "a.txt"), []byte("alpha\n"), 0o644)
		os.WriteFile(filepath.Join(p.dir, "app", "lib", "b.txt"), []byte("beta\n"), 0o600)
		changes := func(r result) []string {
			var out []string
			for _, line := range strings.Split(r.stdout, "\n") {
				if strings.Contains(line, `"event":"job_end"`) && (strings.Contains(line, `"op":"put"`) || strings.Contains(line, `"op":"copy_product"`)) {
					_, c, _ := strings.Cut(line, `"change":"`)
					c, _, _ = strings.Cut(c, `"`)
					out = append(out, c)
				}
			}
			return out
		}
		r := p.conc("deploy", "node1", "--stop-after", "3", "--json")
		if got := changes(r); r.code != 4 || strings.Join(got, " ") != "changed changed" {
			t.Fatalf("the first copy: %v: %s", got, r)
		}
		r = p.conc("deploy", "node1", "--from", "2", "--stop-after", "3", "--json")
		if got := changes(r); r.code != 4 || strings.Join(got, " ") != "unchanged unchanged" {
			t.Fatalf("the same files again: %v: %s", got, r)
		}
		hand := filepath.Join(p.bundleDir(), "a.txt")
		os.WriteFile(hand, []byte("ALPHA\n"), 0o644)
		old := time.Now().Add(-time.Hour)
		os.Chtimes(hand, old, old)
		r = p.conc("deploy", "node1", "--from", "2", "--stop-after", "3")
		if r.code != 4 || !strings.Contains(r.stdout, "changed 1 file(s)") || !strings.Contains(r.stdout, "unchanged 0 file(s), 0 byte(s) sent; 1 already there") {
			t.Fatalf("a file changed by hand on the node: %s", r)
		}
		if got := readFile(t, hand); got != "alpha\n" {
			t.Errorf("the node's a.txt is %q after the copy, want the local one", got)
		}
	})
}

// TestRecordedParamsLie: a lock record on the node whose -p values conc
// would refuse on the command line (a secret, a line break) is never
// applied: the resume is refused and runs nothing.
func TestRecordedParamsLie(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = remote run "echo ran >> ../ran"
step = remote close_bundle
`)
		if r := p.conc("deploy", "node1", "--stop-after", "1"); r.code != 4 {
			t.Fatalf("a stopped run: %s", r)
		}
		for _, lie := range []map[string]any{{"db_password": "x"}, {"x.note": "a\nb"}} {
			recPath := filepath.Join(p.bundleDir(), bundle.LockFile)
			var rec map[string]any
			if err := json.Unmarshal([]byte(readFile(t, recPath)), &rec); err != nil {
				t.Fatal(err)
			}
			rec["params"] = lie
			b, _ := json.Marshal(rec)
			os.WriteFile(recPath, b, 0o600)
			// From another workstation: only the node's record speaks.
			r := p.conc("--state-dir", filepath.Join(t.TempDir(), "state"), "deploy", "node1", "--resume")
			if r.code != 2 || !strings.Contains(r.stdout, "records a value conc refuses") {
				t.Errorf("a record with params %q: want the resume refused: %s", lie, r)
			}
			if exists(p.nodePath("ran")) {
				t.Fatalf("a job ran under a record's refused params")
			}
		}
	})
}

// TestCheckStartsOneAgent: a preflight of a node without conc's agent
// cached starts the boot once, to find that out, and asks the store of
// no agent: its copy preview counts every file as to send.
func TestCheckStartsOneAgent(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = local put app.whl
step = remote close_bundle
`)
		os.WriteFile(filepath.Join(p.dir, "app.whl"), []byte("wheel"), 0o644)
		r := p.conc("check", "node1")
		if r.code != 0 || !strings.Contains(r.stdout, "not cached on the node") || !strings.Contains(r.stdout, "would send 1 file(s), 5 bytes, into the bundle: app.whl (5 bytes)") {
			t.Fatalf("check of a node without the agent: %s", r)
		}
		boots := 0
		for _, c := range n.Commands(t) {
			if strings.Contains(c, "conc-boot") {
				boots++
			}
		}
		if boots != 1 {
			t.Errorf("the check ran %d boot commands, want 1", boots)
		}
	})
}
