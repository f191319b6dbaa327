package durable

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, data := range []string{"one\n", "two\n"} {
		if err := WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != data {
			t.Errorf("read %q, want %q", b, data)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("left in the directory: %v", left)
	}
}

func TestWriteFileIn(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := WriteFileIn(root, ".conc-lock.json", []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ".conc-lock.json")); string(b) != "{}\n" {
		t.Errorf("read %q", b)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("left in the directory: %v", left)
	}
	// A link out of the root is not followed for the write.
	os.Symlink(t.TempDir(), filepath.Join(dir, "out"))
	if err := WriteFileIn(root, "out/x", []byte("x"), 0o600); err == nil {
		t.Error("wrote through a link out of the root")
	}
}

func TestAppender(t *testing.T) {
	p := filepath.Join(t.TempDir(), "journal")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAppender(f)
	a.Write([]byte("1\n"))
	a.Write([]byte("2\n"))
	if b, _ := os.ReadFile(p); string(b) != "1\n2\n" {
		t.Errorf("before Close: %q; an appended line is written at once", b)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("3\n")); err == nil {
		t.Error("wrote after Close")
	}
}

// TestAppenderKeepsItsError: once a write has failed, every later write,
// sync and close says so; a second Close does nothing.
func TestAppenderKeepsItsError(t *testing.T) {
	f, err := os.Open(filepath.Join(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	a := NewAppender(f) // a directory: every write fails
	if _, err := a.Write([]byte("x\n")); err == nil {
		t.Fatal("a write to a directory succeeded")
	}
	if _, err := a.Write([]byte("y\n")); err == nil {
		t.Error("a write after a failure succeeded")
	}
	if err := a.Close(); err == nil {
		t.Error("Close forgot the failure")
	}
	if err := a.Close(); err == nil {
		t.Error("a second Close forgot the failure")
	}
}
