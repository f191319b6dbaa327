package sshconn

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoginCommand: the bundle's name, the only data in the login
// command, reaches the shell as a name, whatever it holds.
func TestLoginCommand(t *testing.T) {
	for _, name := range []string{".conc-bundle", "it's a bundle", "$(touch pwned)", "`touch pwned`", "-n", "a;touch pwned"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("/bin/sh", "-c", loginCommand(name))
			cmd.Dir, cmd.Env = dir, []string{"SHELL=/bin/sh", "PATH=" + os.Getenv("PATH"), "HOME=" + dir}
			cmd.Stdin = strings.NewReader("pwd\n")
			out, err := cmd.Output()
			if got := strings.TrimSuffix(string(out), "\n"); err != nil || !samePath(t, got, filepath.Join(dir, name)) {
				t.Errorf("%s: pwd = %q, %v; want %s", loginCommand(name), got, err, filepath.Join(dir, name))
			}
			if fileExists(filepath.Join(dir, "pwned")) {
				t.Errorf("%s ran a command from the bundle's name", loginCommand(name))
			}
		})
	}
}

func samePath(tb testing.TB, got, want string) bool {
	tb.Helper()
	if got == want {
		return true
	}
	real, err := filepath.EvalSymlinks(want)
	return err == nil && got == real
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
