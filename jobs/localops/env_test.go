package localops

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/jobs"
	"github.com/concdeploy/conc/jobs/nodeops"
	"github.com/rs/zerolog"
)

// testEnv is a jobs.Env whose "node" is a directory: RemoteFS writes there.
type testEnv struct {
	free   int64 // what Free says of the node's disk; 0: it cannot say
	host   jobs.Host
	dir    string // the deploy file's directory
	home   string
	node   string // the node's home; the bundle is node/bundle
	params map[string]string
	out    *jobs.Tail
	procs  jobs.Procs
	mounts []string
}

func newTestEnv(tb testing.TB, host jobs.Host) *testEnv {
	tb.Helper()
	e := &testEnv{host: host, dir: tb.TempDir(), home: tb.TempDir(), node: tb.TempDir(), out: jobs.NewTail(nil),
		params: map[string]string{"admin": "deploy", "sshd.ip": "192.0.2.10", "sshd.port": "22", "bundle": "bundle", "venv": "venvs/app"}}
	os.Mkdir(filepath.Join(e.node, "bundle"), 0o700)
	tb.Cleanup(e.procs.KillAll)
	return e
}

func (e *testEnv) Host() jobs.Host           { return e.host }
func (e *testEnv) Node() string              { return "node1" }
func (e *testEnv) Params() map[string]string { return e.params }
func (e *testEnv) Home() string              { return e.home }
func (e *testEnv) Bundle() string            { return filepath.Join(e.home, "local-bundle") }
func (e *testEnv) Dir() string               { return e.dir }
func (e *testEnv) Output() io.Writer         { return e.out }
func (e *testEnv) SudoPassword() []byte      { return nil }
func (e *testEnv) Log() *zerolog.Logger      { l := zerolog.Nop(); return &l }
func (e *testEnv) Exec(ctx context.Context, c jobs.Command) (int, error) {
	if c.Stdout == nil {
		c.Stdout, c.Stderr = e.out, e.out
	}
	return e.procs.Exec(ctx, c)
}
func (e *testEnv) Remote(context.Context) (jobs.RemoteFS, error) { return &dirFS{e: e}, nil }
func (e *testEnv) Mounted(dir string)                            { e.mounts = append(e.mounts, dir) }
func (e *testEnv) Unmounted(string)                              {}

// dirFS is a RemoteFS over the test's node directory.
type dirFS struct{ e *testEnv }

func (d *dirFS) bundle(p string) string { return filepath.Join(d.e.node, "bundle", p) }

func (d *dirFS) MkdirAll(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(d.bundle(dir), mode); err != nil {
		return err
	}
	return os.Chmod(d.bundle(dir), mode)
}

func (d *dirFS) Upload(_ context.Context, src, dst string, mode fs.FileMode, progress func(int64)) (bool, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(d.bundle(dst), b, mode); err != nil {
		return false, err
	}
	if progress != nil {
		progress(int64(len(b)))
	}
	return true, os.Chmod(d.bundle(dst), mode)
}

func (d *dirFS) WriteFile(_ context.Context, p string, data []byte, mode fs.FileMode) (bool, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.e.node, p)
	}
	if holds(p, data, mode) {
		return false, nil
	}
	os.MkdirAll(filepath.Dir(p), 0o700)
	return true, os.WriteFile(p, data, mode)
}

func (d *dirFS) Progress(string, int64) jobs.Progress { return noProgress{} }
func (d *dirFS) Free() (int64, bool)                  { return d.e.free, d.e.free > 0 }

type noProgress struct{}

func (noProgress) Add(int64) {}
func (noProgress) Done()     {}

func runOp(tb testing.TB, env jobs.Env, args ...string) jobs.Result {
	tb.Helper()
	a, err := testOps.Prepare(jobs.Job{Host: env.Host(), Op: args[0], Args: args[1:]})
	if err != nil {
		tb.Fatal(err)
	}
	return jobs.Execute(context.Background(), a, env, 0)
}

func TestPrepareErrors(t *testing.T) {
	tests := []struct {
		job     jobs.Job
		wantErr string
	}{
		{jobs.Job{Host: jobs.Remote, Op: "put", Args: []string{"x"}}, "does not run on remote"},
		{jobs.Job{Host: jobs.Local, Op: "put", Args: []string{"[x"}}, "bad glob"},
		{jobs.Job{Host: jobs.Local, Op: "put", Args: []string{"a", "--to", "../x"}}, "leaves the bundle"},
		{jobs.Job{Host: jobs.Local, Op: "copy_product"}, "at least one glob"},
		{jobs.Job{Host: jobs.Local, Op: "copy_product", Args: []string{"a", "--to=/etc"}}, "relative to the bundle"},
		{jobs.Job{Host: jobs.Local, Op: "mount_sshfs", Args: []string{"x"}}, "takes no arguments"},
		{jobs.Job{Host: jobs.Remote, Op: "mount_sshfs"}, "does not run on remote"},
		{jobs.Job{Host: jobs.Local, Op: "template", Args: []string{"a"}}, "needs SRC and DEST"},
		{jobs.Job{Host: jobs.Local, Op: "template", Args: []string{"a", "b", "--mode", "999"}}, "octal"},
	}
	for _, tt := range tests {
		t.Run(tt.job.String(), func(t *testing.T) {
			if _, err := testOps.Prepare(tt.job); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Prepare(%s) = %v, want an error containing %q", tt.job, err, tt.wantErr)
			}
		})
	}
}

// testOps are the ops a deploy file's steps may use.
var testOps = jobs.MustCatalogue(nodeops.Ops(), Ops())
