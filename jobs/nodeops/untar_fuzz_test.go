package nodeops

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzUntar feeds arbitrary bytes to untar as a .tar. Whatever they hold,
// the check and the extraction never panic, and nothing is ever written
// outside the target directory: every path under the sandbox that is not
// under the target is as it was.
func FuzzUntar(f *testing.F) {
	for _, entries := range [][]tarEntry{
		{tarFile("a", 0o644, "x")},
		{tarDir("d", 0o755), tarFile("d/f", 0o600, "y")},
		{tarSymlink("l", "d"), tarFile("l/f", 0o644, "z")},
		{tarSymlink("up", ".."), tarFile("up/escape", 0o644, "!")},
		{tarHardlink("h", "../outside")},
		{tarFile("../../etc/x", 0o644, "x")},
	} {
		p := filepath.Join(f.TempDir(), "seed.tar")
		writeArchive(f, p, entries...)
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sandbox := t.TempDir()
		target := filepath.Join(sandbox, "target")
		os.Mkdir(target, 0o755)
		os.WriteFile(filepath.Join(sandbox, "outside"), []byte("keep"), 0o600)
		ar := filepath.Join(sandbox, "a.tar")
		os.WriteFile(ar, data, 0o600)
		chk := newUntarCheck(target, false)
		chk.limit, chk.why = 1<<20, "the fuzz test's limit" // as the free space would
		if err := walkArchive(context.Background(), ar, chk.member); err != nil {
			return
		}
		root, err := os.OpenRoot(target)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		x := &extractor{root: root}
		if err := walkArchive(context.Background(), ar, x.member); err != nil {
			x.undo()
		}
		entries, _ := os.ReadDir(sandbox)
		for _, e := range entries {
			if n := e.Name(); n != "target" && n != "outside" && n != "a.tar" {
				t.Fatalf("untar wrote %s outside its target", n)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(sandbox, "outside")); !bytes.Equal(b, []byte("keep")) {
			t.Fatalf("untar changed a file outside its target: %q", b)
		}
	})
}
