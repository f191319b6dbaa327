package bundlefs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/sftptest"
)

func TestJoin(t *testing.T) {
	const root = "/home/deploy/.conc-bundle"
	tests := []struct {
		name, cwd, p string
		want         string // "" means refused
	}{
		{name: "relative", cwd: ".", p: "a/b", want: "a/b"},
		{name: "from a subdirectory", cwd: "sub", p: "x", want: "sub/x"},
		{name: "dot dot inside", cwd: "sub", p: "../x", want: "x"},
		{name: "dot dot to the top", cwd: "sub", p: "..", want: "."},
		{name: "empty is the directory", cwd: "sub", p: "", want: "sub"},
		{name: "slash is the top", cwd: "sub", p: "/", want: "."},
		{name: "absolute root", cwd: "sub", p: root, want: "."},
		{name: "absolute inside", cwd: ".", p: root + "/venv//bin/", want: "venv/bin"},
		{name: "dot dot out", cwd: ".", p: "../x", want: ""},
		{name: "dot dot out of a subdirectory", cwd: "sub", p: "../../x", want: ""},
		{name: "dot dot hidden in the middle", cwd: ".", p: "a/../../x", want: ""},
		{name: "bare dot dot", cwd: ".", p: "..", want: ""},
		{name: "absolute outside", cwd: ".", p: "/etc/passwd", want: ""},
		{name: "absolute sibling with the bundle as prefix", cwd: ".", p: root + "x/y", want: ""},
		{name: "absolute escaping by dot dot", cwd: ".", p: root + "/../.ssh/id_rsa", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&Root{real: root, of: "the bundle"}).Join(tt.cwd, tt.p)
			if tt.want == "" {
				if !errors.Is(err, ErrOutside) {
					t.Errorf("Join(%q, %q) = %q, %v; want refused as outside the bundle", tt.cwd, tt.p, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Join(%q, %q) = %q, %v; want %q", tt.cwd, tt.p, got, err, tt.want)
			}
		})
	}
}

func TestWalkLinks(t *testing.T) {
	home, root := sftptest.LinkedHome(t)
	c := sftptest.Pipe(t, home)
	tests := []struct {
		name, rel string
		follow    bool
		want      string // relative to root; "" means refused
	}{
		{name: "plain file", rel: "sub/f.txt", follow: true, want: "sub/f.txt"},
		{name: "missing file keeps its name", rel: "sub/new.txt", follow: true, want: "sub/new.txt"},
		{name: "missing directories", rel: "no/such/dir", follow: true, want: "no/such/dir"},
		{name: "relative link inside", rel: "current/f.txt", follow: true, want: "sub/f.txt"},
		{name: "absolute link inside", rel: "abs-inside", follow: true, want: "sub/f.txt"},
		{name: "link through a link", rel: "chain", follow: true, want: "sub/f.txt"},
		{name: "link to the top", rel: "sub/top/sub/f.txt", follow: true, want: "sub/f.txt"},
		{name: "absolute link outside", rel: ".conc-agent", follow: true},
		{name: "relative link outside", rel: "up", follow: true},
		{name: "link to a sibling with the bundle's name as prefix", rel: "sibling", follow: true},
		{name: "link to a link outside", rel: "sub/back", follow: true},
		{name: "a name below a link outside", rel: "up/x", follow: false},
		{name: "last link kept", rel: ".conc-agent", follow: false, want: ".conc-agent"},
		{name: "last link kept below a link inside", rel: "current/back", follow: false, want: "sub/back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := walkLinks(c, root, tt.rel, tt.follow)
			if tt.want == "" {
				var oe *OutsideError
				if !errors.As(err, &oe) || !oe.Symlink {
					t.Fatalf("walkLinks(%q) = %q, %v; want refused as a symlink outside the bundle", tt.rel, got, err)
				}
				if within(root, oe.Target) {
					t.Errorf("the refusal names %s, which is inside the bundle", oe.Target)
				}
				return
			}
			if want := filepath.Join(root, tt.want); err != nil || got != want {
				t.Errorf("walkLinks(%q) = %q, %v; want %q", tt.rel, got, err, want)
			}
		})
	}
	t.Run("loop", func(t *testing.T) {
		if got, err := walkLinks(c, root, "loop", true); err == nil || !strings.Contains(err.Error(), "too many levels of symlinks") {
			t.Errorf("walkLinks(loop) = %q, %v; want too many levels of symlinks", got, err)
		}
	})
}
