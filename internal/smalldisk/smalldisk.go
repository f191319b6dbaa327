// Package smalldisk gives a test a file system that fills up: a small
// tmpfs mounted for the test and unmounted after it. Mounting needs root,
// or sudo without a password; elsewhere the test is skipped, saying why,
// for this is the machine's capability, not an install step's.
package smalldisk

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size (as mount's size= option reads it, such
// as "4m") at dir, owned by the test's user and mode 0700.
func Mount(tb testing.TB, dir, size string) {
	tb.Helper()
	if err := run("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir); err != nil {
		tb.Skipf("cannot mount a tmpfs here (%v): a full-disk test needs root or sudo", err)
	}
	tb.Cleanup(func() { run("umount", "-l", dir) })
	if os.Geteuid() != 0 {
		run("chown", fmt.Sprint(os.Getuid()), dir)
	}
}

// run runs a command as root: directly when the test is root, else
// through sudo -n.
func run(args ...string) error {
	if os.Geteuid() != 0 {
		args = append([]string{"sudo", "-n"}, args...)
	}
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// Fill writes into dir until its file system is full.
func Fill(tb testing.TB, dir string) {
	tb.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				tb.Fatalf("fill %s: %v", dir, err)
			}
			break
		}
	}
	// Small writes too, until not even a byte fits.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			return
		}
	}
}
