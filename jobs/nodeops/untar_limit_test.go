package nodeops

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/internal/smalldisk"
	"github.com/concdeploy/conc/jobs"
)

// writeBomb writes a .tar.gz whose one member holds size bytes of zeros:
// megabytes on disk that unpack to whatever size says.
func writeBomb(tb testing.TB, path string, size int64) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: time.Unix(1e9, 0)}); err != nil {
		tb.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(zeros)) {
		tw.Write(zeros[:min(left, int64(len(zeros)))])
	}
	tw.Close()
	zw.Close()
}

// TestUntarBomb: a gzip bomb is refused while its header is read, before
// anything is written, whether the limit is --max-size or many members
// that add up past it.
func TestUntarBomb(t *testing.T) {
	env := newTestEnv(t)
	writeBomb(t, filepath.Join(env.Dir(), "bomb.tar.gz"), 256<<20)
	r := untarStep(t, env, "bomb.tar.gz", "--max-size", "1M")
	if r.Status != jobs.Failed || !strings.Contains(r.Message, "hold more than 1.0 MiB (--max-size 1.0 MiB)") || !strings.Contains(r.Message, "nothing was extracted") {
		t.Errorf("a gzip bomb: %s %s", r.Status, r.Message)
	}
	var many []tarEntry
	for i := range 100 {
		many = append(many, tarFile("part/f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)), 0o644, strings.Repeat("z", 20<<10)))
	}
	writeArchive(t, filepath.Join(env.Dir(), "many.tar.gz"), many...)
	if r := untarStep(t, env, "many.tar.gz", "--max-size", "1M"); r.Status != jobs.Failed || !strings.Contains(r.Message, "hold more than") {
		t.Errorf("members that add up past the limit: %s %s", r.Status, r.Message)
	}
	for _, left := range []string{"bomb", "part"} {
		if _, err := os.Lstat(filepath.Join(env.Dir(), left)); err == nil {
			t.Errorf("%s was extracted", left)
		}
	}
	if r := untarStep(t, env, "many.tar.gz", "--max-size", "4M"); r.Status != jobs.OK {
		t.Errorf("under the limit: %s %s", r.Status, r.Message)
	}
}

// TestUntarFreeSpace: without --max-size, the free space less a margin is
// the limit, so a bomb never fills the node's disk.
func TestUntarFreeSpace(t *testing.T) {
	env := newTestEnv(t)
	smalldisk.Mount(t, env.Dir(), "8m")
	writeBomb(t, filepath.Join(env.Dir(), "bomb.tar.gz"), 64<<20)
	r := untarStep(t, env, "bomb.tar.gz")
	if r.Status != jobs.Failed || !strings.Contains(r.Message, "the free space there") {
		t.Errorf("a bomb larger than the disk: %s %s", r.Status, r.Message)
	}
	if _, err := os.Lstat(filepath.Join(env.Dir(), "bomb")); err == nil {
		t.Error("the bomb was extracted")
	}
}

// TestUntarUndo: an extraction that fails part way (here the disk fills,
// the check having been told nothing of it) removes what it made.
func TestUntarUndo(t *testing.T) {
	env := newTestEnv(t)
	ar := filepath.Join(t.TempDir(), "big.tar")
	writeArchive(t, ar, tarDir("app", 0o755), tarFile("app/a", 0o644, strings.Repeat("a", 512<<10)),
		tarFile("top", 0o644, "t"), tarFile("app/b", 0o644, strings.Repeat("b", 4<<20)))
	smalldisk.Mount(t, env.Dir(), "2m")
	root, err := os.OpenRoot(env.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	x := &extractor{root: root}
	err = walkArchive(context.Background(), ar, x.member)
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("extraction on a full disk: %v", err)
	}
	x.undo()
	if left, _ := os.ReadDir(env.Dir()); len(left) != 0 {
		t.Errorf("left after undo: %v", left)
	}
}

// TestUntarUndoKeepsWhatWasThere: a member that fails where a directory of
// the operator's stands leaves that directory, and what is in it, alone.
func TestUntarUndoKeepsWhatWasThere(t *testing.T) {
	for _, member := range []tarEntry{tarSymlink("data", "other"), tarHardlink("data", "f")} {
		env := newTestEnv(t)
		keep := filepath.Join(env.Dir(), "data", "keep.txt")
		os.MkdirAll(filepath.Dir(keep), 0o755)
		os.WriteFile(keep, []byte("mine"), 0o644)
		writeArchive(t, filepath.Join(env.Dir(), "a.tar"), tarFile("f", 0o644, "x"), member)
		r := untarStep(t, env, "a.tar")
		if r.Status != jobs.Failed {
			t.Errorf("%s over a full directory: %s %s", member.name, r.Status, r.Message)
		}
		if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
			t.Errorf("undo took what was there: %v", err)
		}
		if _, err := os.Lstat(filepath.Join(env.Dir(), "f")); err == nil {
			t.Error("f, which the failed extraction made, is still there")
		}
	}
}

// TestUntarHeaderBounds: names past 4 KiB are refused, and every member
// counts towards the size limit, so a flood of empty ones fills no disk.
func TestUntarHeaderBounds(t *testing.T) {
	env := newTestEnv(t)
	writeArchive(t, filepath.Join(env.Dir(), "long.tar"), tarFile(strings.Repeat("n", 5000), 0o644, ""))
	if r := untarStep(t, env, "long.tar"); r.Status != jobs.Failed || !strings.Contains(r.Message, "more than 4096") {
		t.Errorf("a 5000-byte name: %s %s", r.Status, r.Message)
	}
	var empties []tarEntry
	for i := range 3000 {
		empties = append(empties, tarDir("d"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)), 0o755))
	}
	writeArchive(t, filepath.Join(env.Dir(), "empty.tar"), empties...)
	if r := untarStep(t, env, "empty.tar", "--max-size", "1M"); r.Status != jobs.Failed || !strings.Contains(r.Message, "hold more than") {
		t.Errorf("3000 empty directories under 1 MiB: %s %s", r.Status, r.Message)
	}
}
