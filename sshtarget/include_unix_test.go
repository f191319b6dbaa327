//go:build unix

package sshtarget

import (
	"path/filepath"
	"syscall"
	"testing"
)

// TestIncludeNotRegular: an Include of a device or a FIFO, and a FIFO as
// the ssh_config param, are refused at once, naming the file and line.
func TestIncludeNotRegular(t *testing.T) {
	t.Run("dev zero", func(t *testing.T) {
		home := t.TempDir()
		_, err := targetIn(t, home, map[string]string{"cfg": "# x\nInclude /dev/zero\n"}, "ssh_config = ~/cfg", "sshd.ip = web")
		wantFileError(t, err, home, "cfg:2", "/dev/zero is a device, not a regular file")
	})
	t.Run("dev zero in a Host block that does not match", func(t *testing.T) {
		home := t.TempDir()
		_, err := targetIn(t, home, map[string]string{"cfg": "Host other\n  Include /dev/zero\n"}, "ssh_config = ~/cfg", "sshd.ip = web")
		wantFileError(t, err, home, "cfg:2", "/dev/zero is a device")
	})
	t.Run("FIFO include", func(t *testing.T) {
		home := t.TempDir()
		if err := syscall.Mkfifo(filepath.Join(home, "fifo"), 0o600); err != nil {
			t.Skip(err)
		}
		_, err := targetIn(t, home, map[string]string{"cfg": "Host *\n  Include ~/fif*\n"}, "ssh_config = ~/cfg", "sshd.ip = web")
		wantFileError(t, err, home, "cfg:2", filepath.Join(home, "fifo")+" is a named pipe (FIFO), not a regular file")
	})
	t.Run("FIFO ssh_config", func(t *testing.T) {
		home := t.TempDir()
		if err := syscall.Mkfifo(filepath.Join(home, "fifo"), 0o600); err != nil {
			t.Skip(err)
		}
		_, err := targetIn(t, home, nil, "ssh_config = ~/fifo", "sshd.ip = web")
		wantFileError(t, err, home, "conc.ini:2", "cannot read", "is a named pipe (FIFO), not a regular file")
	})
	t.Run("FIFO ~/.ssh/config", func(t *testing.T) {
		home := t.TempDir()
		if err := syscall.Mkdir(filepath.Join(home, ".ssh"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(home, ".ssh", "config"), 0o600); err != nil {
			t.Skip(err)
		}
		_, err := targetIn(t, home, nil, "", "sshd.ip = web")
		wantFileError(t, err, home, ".ssh/config", "is a named pipe (FIFO)")
	})
}
