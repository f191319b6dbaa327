// Package sftptest gives tests an SFTP client without SSH: pkg/sftp's
// server over pipes, rooted in a directory, and a home with a bundle and
// symlinks that lead in and out of it.
package sftptest

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pkg/sftp"
)

// Pipe serves dir with pkg/sftp's server over pipes and returns a
// client whose relative paths resolve in dir. pkg/sftp's server answers
// realpath without resolving links, so these tests see the client-side
// walk alone.
func Pipe(tb testing.TB, dir string) *sftp.Client {
	tb.Helper()
	cr, sw, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	sr, cw, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := sftp.NewServer(struct {
		io.Reader
		io.WriteCloser
	}{sr, sw}, sftp.WithServerWorkingDirectory(dir))
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve() // returns when the client closes its end
		srv.Close()
	}()
	c, err := sftp.NewClientPipe(cr, cw)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c.Close()
		<-done
		sr.Close()
		cr.Close()
	})
	return c
}

// LinkedHome is a home with a bundle holding files, and symlinks inside
// and outside of it.
func LinkedHome(tb testing.TB) (home, bundleDir string) {
	tb.Helper()
	home = tb.TempDir()
	bundleDir = filepath.Join(home, ".conc-bundle")
	Mkdirs(tb, filepath.Join(bundleDir, "sub"), filepath.Join(home, ".cache", "conc"))
	WriteFiles(tb, map[string]string{
		filepath.Join(bundleDir, "sub", "f.txt"):                   "inside\n",
		filepath.Join(home, ".cache", "conc", "conc-agent-abc"):    "agent\n",
		filepath.Join(home, "secret.txt"):                          "secret\n",
		filepath.Join(home, ".conc-bundle-other", "x"):             "sibling\n",
		filepath.Join(home, ".cache", "conc", "back", "README.md"): "",
	})
	for name, target := range map[string]string{
		".conc-agent": filepath.Join(home, ".cache", "conc", "conc-agent-abc"), // absolute, outside
		"up":          "../secret.txt",                                         // relative, outside
		"sibling":     "../.conc-bundle-other/x",                               // a prefix of the bundle's name
		"current":     "sub",                                                   // relative, inside
		"abs-inside":  filepath.Join(bundleDir, "sub", "f.txt"),                // absolute, inside
		"chain":       "current/f.txt",                                         // a link through a link
		"sub/back":    "../up",                                                 // a link to a link outside
		"sub/top":     "..",                                                    // the top, from below
		"loop":        "loop",
	} {
		if err := os.Symlink(target, filepath.Join(bundleDir, name)); err != nil {
			tb.Fatal(err)
		}
	}
	return home, bundleDir
}

// Mkdirs makes directories, with their parents.
func Mkdirs(tb testing.TB, dirs ...string) {
	tb.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
	}
}

// WriteFiles writes files, path to contents, making their directories.
func WriteFiles(tb testing.TB, files map[string]string) {
	tb.Helper()
	for p, data := range files {
		Mkdirs(tb, filepath.Dir(p))
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}
