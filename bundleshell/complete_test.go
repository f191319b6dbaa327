package bundleshell

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/concdeploy/conc/internal/sftptest"
)

func TestBundleCompletion(t *testing.T) {
	sh, _, _, root := newTestShell(t, "", nil)
	files := map[string]string{
		filepath.Join(root, "config", "app.cfg"): "", filepath.Join(root, "config", "app.env"): "",
		filepath.Join(root, "a file.txt"): "",
	}
	for i := 0; i <= maxCandidates+5; i++ {
		files[filepath.Join(root, "many", fmt.Sprintf("f%03d", i))] = ""
	}
	sftptest.WriteFiles(t, files)
	local := t.TempDir()
	sftptest.WriteFiles(t, map[string]string{filepath.Join(local, "fixed.cfg"): ""})

	tests := []struct {
		name, line string
		pos        int // -1 for the end of the line
		want       string
		shown      []string // nil for no list
	}{
		{name: "command", line: "ed", want: "edit "},
		{name: "commands listed", line: "c", want: "c", shown: []string{"cat", "cd"}},
		{name: "command unknown", line: "frob", want: "frob"},
		{name: "directory", line: "cat conf", want: "cat config/"},
		{name: "common prefix", line: "cat config/a", want: "cat config/app."},
		{name: "candidates listed", line: "cat config/app.", want: "cat config/app.", shown: []string{"app.cfg", "app.env"}},
		{name: "file in directory", line: "ls config/app.c", want: "ls config/app.cfg "},
		{name: "symlink to a directory", line: "cd cur", want: "cd current/"},
		{name: "through a symlink", line: "cat current/f", want: "cat current/f.txt "},
		{name: "no match", line: "cat nothing", want: "cat nothing"},
		{name: "outside", line: "cat ../sec", want: "cat ../sec"},
		{name: "dot files on a dot", line: "cat .conc-a", want: "cat .conc-agent "},
		{name: "quoted", line: "cat 'a f", want: "cat 'a file.txt' "},
		{name: "escaped space", line: `cat a\ f`, want: "cat 'a file.txt' "},
		{name: "after rm -r", line: "rm -r con", want: "rm -r config/"},
		{name: "mid line", line: "ls conf | more", pos: 7, want: "ls config/ | more"},
		{name: "no argument", line: "pwd su", want: "pwd su"},
		{name: "put's local file", line: "put " + local + "/fi", want: "put " + local + "/fixed.cfg "},
		{name: "put's remote path", line: "put x conf", want: "put x config/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pos := len(tt.line)
			if tt.pos > 0 {
				pos = tt.pos
			}
			c := completeLine(tt.line, pos, sh.remoteEntries(context.Background()), localEntries)
			if c.line != tt.want || !slices.Equal(c.shown, tt.shown) || c.note != "" {
				t.Errorf("Tab on %q = %q, shown %q, note %q; want %q, shown %q", tt.line, c.line, c.shown, c.note, tt.want, tt.shown)
			}
			if wantPos := len(tt.want) - (len(tt.line) - pos); c.pos != wantPos {
				t.Errorf("cursor at %d; want %d", c.pos, wantPos)
			}
		})
	}

	t.Run("many", func(t *testing.T) {
		c := completeLine("cat many/f", 10, sh.remoteEntries(context.Background()), localEntries)
		if len(c.shown) != maxCandidates+1 || c.shown[0] != "f000" || c.shown[maxCandidates] != "(and more)" {
			t.Errorf("shown %d: %q...; want the first %d and (and more)", len(c.shown), c.shown[:3], maxCandidates)
		}
	})
	t.Run("no dot files unasked", func(t *testing.T) {
		c := completeLine("ls ", 3, sh.remoteEntries(context.Background()), localEntries)
		if len(c.shown) == 0 || strings.Contains(strings.Join(c.shown, " "), ".conc") {
			t.Errorf("shown %q; want the top's names without dot files", c.shown)
		}
	})
}
