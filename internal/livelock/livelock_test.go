//go:build linux

package livelock

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLiveLock checks the kernel lock the liveness rests on: a second open
// of the file cannot take it, a read-only open sees it held without taking
// it, and it goes with the open file that held it.
func TestLiveLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), ".conc-live")
	holder, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := Lock(holder); err != nil {
		t.Fatalf("first lock: %v", err)
	}
	other, _ := os.OpenFile(path, os.O_RDWR, 0)
	defer other.Close()
	if err := Lock(other); err != ErrHeld {
		t.Errorf("second lock = %v, want ErrHeld", err)
	}
	reader, _ := os.Open(path)
	defer reader.Close()
	if live, err := Held(reader); !live || err != nil {
		t.Errorf("liveHeld while held = %v, %v; want true", live, err)
	}
	if live, _ := Held(reader); !live {
		t.Error("testing the lock took it away")
	}
	holder.Close()
	if live, err := Held(reader); live || err != nil {
		t.Errorf("liveHeld after the holder closed = %v, %v; want false", live, err)
	}
	if err := Lock(other); err != nil {
		t.Errorf("lock after the holder closed: %v", err)
	}
}
