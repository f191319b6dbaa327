package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/testnode"
	"github.com/concdeploy/conc/jobs"
)

// product makes a product tree next to the deploy file: files with modes,
// a nested directory.
func product(t *testing.T, dir string) {
	t.Helper()
	files := []struct {
		path string
		mode os.FileMode
		data string
	}{
		{"dist/app-1.0.whl", 0o644, "wheel"},
		{"vendor/lib-2.tar.gz", 0o600, "tarball"},
		{"vendor/tools/run.sh", 0o755, "#!/bin/sh\necho run\n"},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, f.mode)
	}
}

func TestCopyProductAndMount(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		requireFuse(t)
		p := newProject(t, n, `[plan deploy]
step = remote open_bundle
step = local open_bundle
step = local mount_sshfs
step = local copy_product dist/*.whl vendor
step = local run "cat local-bundle/app-1.0.whl local-bundle/vendor/lib-2.tar.gz > seen-through-mount.txt"
step = remote run "cp -rp . ../copied"
step = local unmount_sshfs
step = remote close_bundle
step = local close_bundle
`)
		product(t, p.dir)
		r := p.conc("deploy", "node1")
		if r.code != 0 {
			t.Fatalf("deploy: %s", r)
		}
		for rel, mode := range map[string]os.FileMode{"app-1.0.whl": 0o644, "vendor/lib-2.tar.gz": 0o600, "vendor/tools/run.sh": 0o755} {
			fi, err := os.Stat(p.nodePath(filepath.Join("copied", rel)))
			if err != nil {
				t.Errorf("%s did not reach the node: %v", rel, err)
				continue
			}
			if fi.Mode().Perm() != mode {
				t.Errorf("%s has mode %v on the node, want %v", rel, fi.Mode().Perm(), mode)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(p.dir, "seen-through-mount.txt")); string(b) != "wheeltarball" {
			t.Errorf("through the mount the files read %q", b)
		}
		if mounted, _ := jobs.IsMountPoint(p.local); mounted || exists(p.local) {
			t.Error("the local bundle is still there after unmount_sshfs and close_bundle")
		}
		if exists(p.bundleDir()) {
			t.Error("the bundle is still on the node")
		}
	})
}

// TestMountsOnStop checks conc's clean-up: a run that fails after mounting
// unmounts, and a paused run keeps the mount as the operator's bridge.
func TestMountsOnStop(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		requireFuse(t)
		for i, tt := range []struct {
			last      string
			code      int
			wantMount bool
		}{
			{"local run false", 1, false},
			{"local pause fix the bundle by hand", 4, true},
		} {
			p := newProject(t, n, "")
			p.bundle = fmt.Sprintf(".conc-bundle-%d", i) // the failed case leaves its lock behind
			p.local += p.bundle
			p.write("[plan deploy]\nstep = remote open_bundle\nstep = local open_bundle\nstep = local mount_sshfs\nstep = " + tt.last + "\n")
			r := p.conc("deploy", "node1")
			if r.code != tt.code {
				t.Fatalf("%s: %s", tt.last, r)
			}
			mounted, _ := jobs.IsMountPoint(p.local)
			if mounted != tt.wantMount {
				t.Errorf("after %q the local bundle is mounted: %v, want %v\n%s", tt.last, mounted, tt.wantMount, r)
			}
			if mounted {
				t.Cleanup(func() { unmount(t, p.local) })
				if !strings.Contains(r.stdout, "fix the bundle by hand") {
					t.Errorf("the pause message is not shown:\n%s", r.stdout)
				}
			}
		}
	})
}

// TestMountAfterStop follows a run stopped with its bundle mounted: a
// resumed run that fails unmounts it, and conc unlock releases the local
// bundle of a run given up.
func TestMountAfterStop(t *testing.T) {
	testnode.Both(t, func(t *testing.T, n *testnode.Node) {
		requireFuse(t)
		p := newProject(t, n, "[plan deploy]\nstep = remote open_bundle\nstep = local open_bundle\nstep = local mount_sshfs\nstep = local pause\nstep = local run false\n")
		if r := p.conc("deploy", "node1"); r.code != 4 {
			t.Fatalf("deploy: %s", r)
		}
		t.Cleanup(func() {
			if mounted, _ := jobs.IsMountPoint(p.local); mounted {
				unmount(t, p.local)
			}
		})
		r := p.conc("deploy", "node1", "--resume")
		if mounted, _ := jobs.IsMountPoint(p.local); r.code != 1 || mounted {
			t.Fatalf("a resumed run that fails leaves the stopped run's mount: mounted %v, %s", mounted, r)
		}
		r = p.conc("deploy", "node1", "--from", "mount_sshfs", "--stop-after", "mount_sshfs")
		if mounted, _ := jobs.IsMountPoint(p.local); r.code != 4 || !mounted {
			t.Fatalf("mount again: mounted %v, %s", mounted, r)
		}
		// The resumed run, all local jobs, still journals on the node.
		if r := p.conc("status", "node1"); !strings.Contains(r.stdout, "last:    step 3/5 local mount_sshfs: OK") {
			t.Errorf("status after a resumed run of local jobs: %s", r)
		}
		r = p.conc("unlock", "node1", "--yes")
		if r.code != 0 || !strings.Contains(r.stdout, "unmounted and removed the local bundle") || exists(p.local) {
			t.Errorf("unlock of a run with a mounted local bundle: local bundle left: %v; %s", exists(p.local), r)
		}
	})
}

func unmount(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"fusermount3", "fusermount"} {
		if _, err := os.Stat("/usr/bin/" + name); err == nil {
			if err := runCmd("/usr/bin/"+name, "-u", dir); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
			return
		}
	}
}
