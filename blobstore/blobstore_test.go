package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/internal/smalldisk"
)

// clock is a store's clock that a test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func (c *clock) tick() { c.t = c.t.Add(time.Minute) }

type fixture struct {
	t     *testing.T
	home  string
	clock *clock
	store *Store
}

func newFixture(t *testing.T) *fixture {
	home := t.TempDir()
	c := &clock{t: time.Now().Add(-time.Hour).Truncate(time.Second)}
	s, err := Open(home, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, home: home, clock: c, store: s}
}

// bundle makes a bundle directory in the home and opens it as the agent
// does.
func (f *fixture) bundle(name string) (string, *os.Root) {
	dir := filepath.Join(f.home, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		f.t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { root.Close() })
	return dir, root
}

var mtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// file writes data into a bundle as a copy does, and describes it.
func (f *fixture) file(dir, rel, data string, mode os.FileMode) channel.StoreFile {
	p := filepath.Join(dir, rel)
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		f.t.Fatal(err)
	}
	os.Chmod(p, mode)
	os.Chtimes(p, mtime, mtime)
	return describe(rel, data, mode)
}

func describe(rel, data string, mode os.FileMode) channel.StoreFile {
	sum := sha256.Sum256([]byte(data))
	return channel.StoreFile{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Path: rel, Mode: uint32(mode), MTime: mtime}
}

// keep sends the bundle's files through a session, as a copy sends what
// the store lacks: each takes its place again and joins the store.
func (f *fixture) keep(root *os.Root, files ...channel.StoreFile) {
	f.t.Helper()
	f.clock.tick()
	if err := f.write(root, files...); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) write(root *os.Root, files ...channel.StoreFile) error {
	ss := NewSession(f.home, f.clock.now)
	defer ss.Close()
	for _, sf := range files {
		data, err := root.ReadFile(sf.Path)
		if err != nil {
			return err
		}
		q := &channel.Store{Do: channel.StoreWrite, Files: []channel.StoreFile{sf}, Data: data}
		if _, err := ss.Serve(root, q); err != nil {
			return err
		}
	}
	return nil
}

func (f *fixture) blob(sf channel.StoreFile) string {
	return filepath.Join(f.store.Path(), sf.SHA256[:2], sf.SHA256)
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestPlaceAndKeep: a kept file is placed into the next bundle from the
// store, as a link to the blob with the file's mode and mtime; a bundle
// that has the file already is left as it is.
func TestPlaceAndKeep(t *testing.T) {
	f := newFixture(t)
	dir1, root1 := f.bundle("b1")
	app := f.file(dir1, "lib/app.whl", "wheel content", 0o640)
	f.keep(root1, app)
	if got := readFile(t, f.blob(app)); got != "wheel content" {
		t.Fatalf("the blob holds %q", got)
	}
	dir2, root2 := f.bundle("b2")
	os.MkdirAll(filepath.Join(dir2, "lib"), 0o700)
	other := describe("lib/other.whl", "not in the store", 0o644)
	placed, corrupt := f.store.Place(root2, []channel.StoreFile{app, other})
	if placed[0] != channel.StoreLinked || placed[1] != channel.StoreMissing || corrupt != 0 {
		t.Fatalf("placed %v, corrupt %d; want linked, missing", placed, corrupt)
	}
	p := filepath.Join(dir2, "lib", "app.whl")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if readFile(t, p) != "wheel content" || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mtime) {
		t.Errorf("the placed file: %q, mode %v, mtime %v", readFile(t, p), fi.Mode().Perm(), fi.ModTime())
	}
	if inode(t, p) != inode(t, f.blob(app)) {
		t.Error("the placed file is not a link to the blob")
	}
	if placed, _ := f.store.Place(root2, []channel.StoreFile{app}); placed[0] != channel.StoreHad {
		t.Errorf("placed again: %v, want had", placed)
	}
}

// TestPlaceCorrupt: a blob changed by anyone (its content, in place with
// its size and mtime kept, or its size) is found by its hash, removed and
// not placed: the file is sent again.
func TestPlaceCorrupt(t *testing.T) {
	for name, spoil := range map[string]func(string){
		"same size": func(p string) {
			os.WriteFile(p, []byte("wheel CONTENT"), 0o640)
			os.Chtimes(p, mtime, mtime)
		},
		"truncated": func(p string) { os.Truncate(p, 3) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			dir1, root1 := f.bundle("b1")
			app := f.file(dir1, "app.whl", "wheel content", 0o640)
			f.keep(root1, app)
			os.RemoveAll(dir1) // the run's close_bundle
			spoil(f.blob(app))
			dir2, root2 := f.bundle("b2")
			placed, corrupt := f.store.Place(root2, []channel.StoreFile{app})
			if placed[0] != channel.StoreMissing || corrupt != 1 {
				t.Fatalf("placed %v, corrupt %d; want missing, 1", placed, corrupt)
			}
			if _, err := os.Lstat(f.blob(app)); !os.IsNotExist(err) {
				t.Error("the corrupt blob is still in the store")
			}
			if _, err := os.Lstat(filepath.Join(dir2, "app.whl")); !os.IsNotExist(err) {
				t.Error("something was placed in the bundle")
			}
			// Sent again, it is kept again, whole.
			again := f.file(dir2, "app.whl", "wheel content", 0o640)
			f.keep(root2, again)
			if got := readFile(t, f.blob(app)); got != "wheel content" {
				t.Errorf("after the file was sent again the blob holds %q", got)
			}
		})
	}
}

// TestPlaceSharedBlob: a blob another bundle links with another mode gets
// a copy, so a run never changes a file of another bundle.
func TestPlaceSharedBlob(t *testing.T) {
	f := newFixture(t)
	dir1, root1 := f.bundle("b1")
	tool := f.file(dir1, "tool", "#!/bin/sh\n", 0o644)
	f.keep(root1, tool)
	_, root2 := f.bundle("b2")
	exe := tool
	exe.Mode = 0o755
	placed, _ := f.store.Place(root2, []channel.StoreFile{exe})
	if placed[0] != channel.StoreLinked {
		t.Fatalf("placed %v", placed)
	}
	p2 := filepath.Join(f.home, "b2", "tool")
	if fi, _ := os.Stat(p2); fi.Mode().Perm() != 0o755 || readFile(t, p2) != "#!/bin/sh\n" {
		t.Errorf("b2's tool: mode %v, %q", fi.Mode().Perm(), readFile(t, p2))
	}
	if fi, _ := os.Stat(filepath.Join(dir1, "tool")); fi.Mode().Perm() != 0o644 {
		t.Errorf("b1's tool changed mode to %v", fi.Mode().Perm())
	}
	if inode(t, p2) == inode(t, filepath.Join(dir1, "tool")) {
		t.Error("b2's tool is b1's file")
	}
}

// TestEvictLRU: past the limit, the least recently used blobs go first;
// a place counts as a use; a bundle keeps a file whose blob went.
func TestEvictLRU(t *testing.T) {
	f := newFixture(t)
	dir, root := f.bundle("b1")
	var files []channel.StoreFile
	for _, name := range []string{"a", "b", "c", "d"} {
		files = append(files, f.file(dir, name, strings.Repeat(name, 100), 0o644))
	}
	a, b, c, d := files[0], files[1], files[2], files[3]
	f.keep(root, a)
	f.keep(root, b)
	f.keep(root, c)
	_, root2 := f.bundle("b2")
	f.clock.tick()
	if placed, _ := f.store.Place(root2, []channel.StoreFile{a}); placed[0] != channel.StoreLinked {
		t.Fatalf("placed %v", placed)
	}
	f.keep(root, d)
	st, err := f.store.Evict(300)
	if err != nil {
		t.Fatal(err)
	}
	if st.Evicted != 1 || st.Blobs != 3 || st.Bytes != 300 {
		t.Errorf("evicted %d, left %d blobs of %d bytes; want 1, 3, 300", st.Evicted, st.Blobs, st.Bytes)
	}
	for sf, want := range map[*channel.StoreFile]bool{&a: true, &b: false, &c: true, &d: true} {
		if _, err := os.Stat(f.blob(*sf)); (err == nil) != want {
			t.Errorf("%s in the store: %v, want %v", sf.Path, err == nil, want)
		}
	}
	if readFile(t, filepath.Join(dir, "b")) != strings.Repeat("b", 100) {
		t.Error("the bundle lost the file whose blob was evicted")
	}
	st, err = f.store.Prune()
	if err != nil || st.Blobs != 0 || st.Evicted != 3 {
		t.Errorf("prune: %+v, %v", st, err)
	}
}

// TestKeepChanged: a file whose content changed between its hash and its
// sending is left out of the store, and the next one goes in.
func TestKeepChanged(t *testing.T) {
	f := newFixture(t)
	dir, root := f.bundle("b1")
	a := f.file(dir, "a", "alpha", 0o644)
	b := f.file(dir, "b", "beta", 0o644)
	os.WriteFile(filepath.Join(dir, "a"), []byte("ALPHA"), 0o644)
	if err := f.write(root, a); err == nil {
		t.Error("content that is not its hash was written")
	}
	if err := f.write(root, b); err != nil {
		t.Fatalf("the next file: %v", err)
	}
	if _, err := os.Stat(f.blob(a)); err == nil {
		t.Error("a file whose content is not its hash went into the store")
	}
	if _, err := os.Stat(f.blob(b)); err != nil {
		t.Errorf("the next file is not in the store: %v", err)
	}
}

// TestServeRefuses: a request the store must not act on does nothing:
// a path out of the bundle, a bad hash, too many files, no bundle, an
// unknown request. A link in the bundle that leads out is not followed.
func TestServeRefuses(t *testing.T) {
	f := newFixture(t)
	dir, root := f.bundle("b1")
	a := f.file(dir, "a", "alpha", 0o644)
	f.keep(root, a)
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(dir, "out"))
	for _, p := range []string{"../a", "out/a", "/etc/a", "", "sub/.."} {
		sf := a
		sf.Path = p
		if placed, _ := f.store.Place(root, []channel.StoreFile{sf}); placed[0] != channel.StoreMissing {
			t.Errorf("place at %q: %v", p, placed)
		}
	}
	_, err := NewSession(f.home, f.clock.now).Serve(root, &channel.Store{Do: channel.StorePlace, Dirs: []channel.StoreDir{{Path: "out/sub", Mode: 0o700}}})
	if err == nil || !strings.Contains(err.Error(), "out leads through a symlink to "+outside) {
		t.Errorf("a directory made through a link out: %v", err)
	}
	_, err = NewSession(f.home, f.clock.now).Serve(root, &channel.Store{Do: channel.StoreWrite, Files: []channel.StoreFile{describe("out/x", "x", 0o644)}, Data: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "leads through a symlink") {
		t.Errorf("a file written through a link out: %v", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("a place wrote outside the bundle: %v", entries)
	}
	bad := a
	bad.SHA256 = "../../" + a.SHA256[6:]
	bad.Path = "new"
	if placed, _ := f.store.Place(root, []channel.StoreFile{bad}); placed[0] != channel.StoreMissing {
		t.Errorf("a bad hash: %v", placed)
	}
	for what, q := range map[string]*channel.Store{
		"too many": {Do: channel.StorePlace, Files: make([]channel.StoreFile, channel.MaxStoreFiles+1)},
		"unknown":  {Do: "gc"},
		"bad hash": {Do: channel.StoreKeep, Files: []channel.StoreFile{bad}},
	} {
		if _, err := NewSession(f.home, f.clock.now).Serve(root, q); err == nil {
			t.Errorf("%s: no error", what)
		}
	}
	if _, err := NewSession(f.home, f.clock.now).Serve(nil, &channel.Store{Do: channel.StorePlace}); err == nil {
		t.Error("a place without a bundle: no error")
	}
	if ans, err := NewSession(f.home, f.clock.now).Serve(nil, &channel.Store{Do: channel.StoreShow}); err != nil || ans.Blobs != 1 {
		t.Errorf("show without a bundle: %+v, %v", ans, err)
	}
}

// TestStaleTmp: a temporary file a crashed agent left in the store goes
// at the next eviction once it is an hour old, not before.
func TestStaleTmp(t *testing.T) {
	f := newFixture(t)
	shard := filepath.Join(f.store.Path(), "ab")
	os.MkdirAll(shard, 0o700)
	old, fresh := filepath.Join(shard, tmpPrefix+"old"), filepath.Join(shard, tmpPrefix+"fresh")
	os.WriteFile(old, []byte("x"), 0o600)
	os.WriteFile(fresh, []byte("x"), 0o600)
	long := f.clock.t.Add(-2 * staleTmp)
	os.Chtimes(old, long, long)
	os.Chtimes(fresh, f.clock.t, f.clock.t)
	if st, err := f.store.Show(); err != nil || st.Blobs != 0 {
		t.Fatalf("show: %+v, %v", st, err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("the stale temporary file is still there")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a temporary file in use was removed")
	}
}

// TestOpenRefusesLink: a store path that is a link is not followed.
func TestOpenRefusesLink(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".cache", "conc"), 0o700)
	os.Symlink(t.TempDir(), filepath.Join(home, Dir))
	if _, err := Open(home, nil); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a linked store: %v", err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPlaceSameContent: files of one copy with the same content and their
// own modes and mtimes (empty __init__.py files, say) each keep theirs.
func TestPlaceSameContent(t *testing.T) {
	f := newFixture(t)
	dir1, root1 := f.bundle("b1")
	f.keep(root1, f.file(dir1, "x", "", 0o644))
	dir2, root2 := f.bundle("b2")
	var files []channel.StoreFile
	for i := range 8 {
		sf := describe(fmt.Sprintf("f%d", i), "", os.FileMode(0o600|i<<6&0o100))
		sf.MTime = mtime.Add(time.Duration(i) * time.Hour)
		files = append(files, sf)
	}
	placed, _ := f.store.Place(root2, files)
	for i, sf := range files {
		fi, err := os.Stat(filepath.Join(dir2, sf.Path))
		if placed[i] != channel.StoreLinked || err != nil || fi.Mode().Perm() != os.FileMode(sf.Mode) || !fi.ModTime().Equal(sf.MTime) {
			t.Errorf("%s: placed %d, %v; want mode %o mtime %v", sf.Path, placed[i], fi, sf.Mode, sf.MTime)
		}
	}
}

// TestWrite: a file sent in chunks takes its name in the bundle, with its
// mode and mtime, only once whole and matching its hash, and joins the
// store; a chunk out of order, content that does not match, or a session
// that ends half way leave nothing behind but the error.
func TestWrite(t *testing.T) {
	f := newFixture(t)
	dir, root := f.bundle("b1")
	ss := NewSession(f.home, f.clock.now)
	write := func(sf channel.StoreFile, off int64, data string) error {
		_, err := ss.Serve(root, &channel.Store{Do: channel.StoreWrite, Files: []channel.StoreFile{sf}, Offset: off, Data: []byte(data)})
		return err
	}
	app := describe("app.whl", "wheel content", 0o640)
	app.MTime = mtime.Add(123456789) // to the nanosecond
	if err := write(app, 0, "wheel "); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "app.whl")); err == nil {
		t.Fatal("a half-sent file has its name")
	}
	if err := write(app, 6, "content"); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "app.whl")
	fi, err := os.Stat(p)
	if err != nil || readFile(t, p) != "wheel content" || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(app.MTime) {
		t.Fatalf("the written file: %v, %v", fi, err)
	}
	if inode(t, p) != inode(t, f.blob(app)) {
		t.Error("the written file is not in the store")
	}

	bad := describe("bad.whl", "expected", 0o644)
	if err := write(bad, 0, "EXPECTED"); err == nil || !strings.Contains(err.Error(), "does not match its sha256") {
		t.Errorf("content that does not match: %v", err)
	}
	gap := describe("gap.whl", "0123456789", 0o644)
	write(gap, 0, "01234")
	if err := write(gap, 7, "789"); err == nil || !strings.Contains(err.Error(), "does not follow") {
		t.Errorf("a chunk out of order: %v", err)
	}
	if err := write(describe("late.whl", "x", 0o644), 3, "x"); err == nil {
		t.Error("a chunk of a file never begun: no error")
	}
	half := describe("half.whl", "0123456789", 0o644)
	write(half, 0, "01234")
	ss.Close()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "app.whl" {
			t.Errorf("left in the bundle: %s", e.Name())
		}
	}
	if _, err := os.Stat(f.blob(bad)); err == nil {
		t.Error("content that did not match went into the store")
	}
	if err := write(describe("after.whl", "x", 0o644), 0, "x"); err == nil {
		t.Error("a write after the session closed: no error")
	}
	// What was written places into the next bundle as a link: its mtime
	// was set to the nanosecond.
	dir2, root2 := f.bundle("b2")
	if placed, _ := f.store.Place(root2, []channel.StoreFile{app}); placed[0] != channel.StoreLinked ||
		inode(t, filepath.Join(dir2, "app.whl")) != inode(t, f.blob(app)) {
		t.Errorf("the written file placed again: %v, not a link to the blob", placed)
	}
}

// TestPlaceTwoAgents: two agents placing one blob at once, each into its
// own bundle with its own mode, never share an inode with the wrong mode
// (the blob's lock), 50 rounds.
func TestPlaceTwoAgents(t *testing.T) {
	f := newFixture(t)
	dir0, root0 := f.bundle("b0")
	script := f.file(dir0, "run.sh", "#!/bin/sh\n", 0o644)
	f.keep(root0, script)
	os.RemoveAll(dir0)
	for round := range 50 {
		dirs := make([]string, 2)
		roots := make([]*os.Root, 2)
		for i := range 2 {
			dirs[i], roots[i] = f.bundle(fmt.Sprintf("r%d-%d", round, i))
		}
		var wg sync.WaitGroup
		for i, mode := range []os.FileMode{0o644, 0o755} {
			sf := script
			sf.Mode = uint32(mode)
			s, err := Open(f.home, f.clock.now) // another agent's
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() { s.Place(roots[i], []channel.StoreFile{sf}) })
		}
		wg.Wait()
		for i, want := range []os.FileMode{0o644, 0o755} {
			fi, err := os.Stat(filepath.Join(dirs[i], "run.sh"))
			if err != nil || fi.Mode().Perm() != want {
				t.Fatalf("round %d: bundle %d's run.sh: %v, %v; want mode %v", round, i, fi, err, want)
			}
		}
		for i := range 2 {
			os.RemoveAll(dirs[i])
		}
	}
}

// TestPlaceWhileEvicted: another agent empties the store while this one
// places a blob, 100 rounds. The place links the blob or copies it from
// the file it holds open, or leaves the file to be sent; the bundle never
// gets a wrong or partial file, nor a temporary one.
func TestPlaceWhileEvicted(t *testing.T) {
	f := newFixture(t)
	seedDir, seed := f.bundle("seed")
	data := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB: a place hashes it a while
	sf := f.file(seedDir, "app.whl", data, 0o640)
	outcomes := map[int8]int{}
	for round := range 100 {
		f.keep(seed, sf)
		dir, root := f.bundle(fmt.Sprintf("r%d", round))
		other, err := Open(f.home, f.clock.now) // another agent's
		if err != nil {
			t.Fatal(err)
		}
		var placed []int8
		var wg sync.WaitGroup
		wg.Go(func() { placed, _ = f.store.Place(root, []channel.StoreFile{sf}) })
		wg.Go(func() { other.Prune() })
		wg.Wait()
		outcomes[placed[0]]++
		p := filepath.Join(dir, "app.whl")
		switch placed[0] {
		case channel.StoreLinked:
			fi, err := os.Stat(p)
			if err != nil || readFile(t, p) != data || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mtime) {
				t.Fatalf("round %d: a placed file that is not the one asked for: %v, %v", round, fi, err)
			}
		case channel.StoreMissing:
			if _, err := os.Lstat(p); err == nil {
				t.Fatalf("round %d: a file left to send is in the bundle", round)
			}
		default:
			t.Fatalf("round %d: placed %d", round, placed[0])
		}
		if left, _ := filepath.Glob(filepath.Join(dir, tmpPrefix+"*")); len(left) > 0 {
			t.Fatalf("round %d: left in the bundle: %v", round, left)
		}
	}
	t.Logf("linked or copied %d times, left to send %d times", outcomes[channel.StoreLinked], outcomes[channel.StoreMissing])
}

// TestWriteDiskFull: the bundle's disk fills while a file is sent: the
// write fails saying so, the half-written file is removed, the store does
// not take it, and the session goes on.
func TestWriteDiskFull(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.home, "b")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	smalldisk.Mount(t, dir, "1m")
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ss := NewSession(f.home, f.clock.now)
	defer ss.Close()
	data := strings.Repeat("x", 2<<20)
	big := describe("big.bin", data, 0o644)
	var werr error
	for off := 0; off < len(data) && werr == nil; off += 256 << 10 {
		_, werr = ss.Serve(root, &channel.Store{Do: channel.StoreWrite, Files: []channel.StoreFile{big}, Offset: int64(off), Data: []byte(data[off : off+256<<10])})
	}
	if werr == nil || !strings.Contains(werr.Error(), "no space left") {
		t.Fatalf("a file larger than the disk: %v, want no space left", werr)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left in the bundle: %v", left)
	}
	if _, err := os.Stat(f.blob(big)); err == nil {
		t.Error("the half-sent file is in the store")
	}
	small := describe("small.txt", "fits", 0o644)
	if _, err := ss.Serve(root, &channel.Store{Do: channel.StoreWrite, Files: []channel.StoreFile{small}, Data: []byte("fits")}); err != nil {
		t.Errorf("a write after the failed one: %v", err)
	}
}

// TestHolds: a preview's question says which files the store has a blob
// of, by name and size, and changes nothing: no blob's last use moves,
// and a store that was never made is not made.
func TestHolds(t *testing.T) {
	home := t.TempDir()
	ask := func(home string, files ...channel.StoreFile) []int8 {
		t.Helper()
		ss := NewSession(home, nil)
		defer ss.Close()
		ans, err := ss.Serve(nil, &channel.Store{Do: channel.StoreShow, Files: files})
		if err != nil {
			t.Fatal(err)
		}
		return ans.Placed
	}
	a := describe("a.txt", "alpha", 0o644)
	if got := ask(home, a); len(got) != 1 || got[0] != channel.StoreMissing {
		t.Errorf("a store never made: %v, want missing", got)
	}
	if _, err := os.Lstat(filepath.Join(home, ".cache")); err == nil {
		t.Error("the question made the store's directory")
	}

	f := newFixture(t)
	dir, root := f.bundle("seed")
	held := f.file(dir, "a.txt", "alpha", 0o644)
	f.keep(root, held)
	before, err := os.Stat(f.blob(held))
	if err != nil {
		t.Fatal(err)
	}
	atime := before.Sys().(*syscall.Stat_t).Atim
	resized := held
	resized.Size++
	bad := held
	bad.SHA256 = "../" + held.SHA256[3:]
	got := ask(f.home, held, describe("b.txt", "beta", 0o644), resized, bad)
	if want := []int8{channel.StoreLinked, channel.StoreMissing, channel.StoreMissing, channel.StoreMissing}; !slices.Equal(got, want) {
		t.Errorf("held %v, want %v", got, want)
	}
	after, err := os.Stat(f.blob(held))
	if err != nil {
		t.Fatal(err)
	}
	if after.Sys().(*syscall.Stat_t).Atim != atime || !after.ModTime().Equal(before.ModTime()) {
		t.Error("the question moved the blob's last use")
	}
}
