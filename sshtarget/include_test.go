package sshtarget

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/config"
)

// targetIn writes files (paths relative to home, "$HOME" replaced) and a
// deploy file whose [defaults] and [node n1] hold the given lines, with
// HOME set to home, and resolves n1 within a deadline: reading a config
// must never hang.
func targetIn(t *testing.T, home string, files map[string]string, defaults, node string) (Target, error) {
	t.Helper()
	t.Setenv("HOME", home)
	for name, text := range files {
		p := filepath.Join(home, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "$HOME", home)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, n := loadNode(t, home, defaults, node)
	type result struct {
		t   Target
		err error
	}
	done := make(chan result, 1)
	go func() {
		tg, err := TargetOf(n, f.Dir)
		done <- result{tg, err}
	}()
	select {
	case r := <-done:
		return r.t, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("TargetOf did not return within 10s")
	}
	return Target{}, nil
}

// wantFileError checks that err is a deploy-file error at where (relative
// to home) holding every one of wants.
func wantFileError(t *testing.T, err error, home, where string, wants ...string) {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *config.Error", err)
	}
	if w := filepath.Join(home, where) + ": "; !strings.HasPrefix(err.Error(), w) {
		t.Errorf("err = %q, want it at %s", err, w)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err = %q, want it to say %q", err, w)
		}
	}
}

// TestIncludeResolves: Include with a glob and a path relative to ~/.ssh,
// inside a Host block, read where it stands, its Host blocks confined to
// it, with each value's own file and line.
func TestIncludeResolves(t *testing.T) {
	home := t.TempDir()
	files := map[string]string{
		"cfg": "Host web\n" +
			"  Include conf.d/*.conf ~/extra\n" +
			"  ConnectTimeout 5\n" +
			"  User fromcfg\n" +
			"Host other\n" +
			"  Include nothing/here\n",
		".ssh/conf.d/a.conf": "Port 2201\n",
		".ssh/conf.d/b.conf": "User fromb\nPort 9\nHost zzz\n  ConnectTimeout 1\nHost *\n  IdentityFile ~/idb\n",
		".ssh/conf.d/c.txt":  "Port 1\n",
		"extra":              "INCLUDE=\"$HOME/x y\" # quoted, with =\n",
		"x y":                "UserKnownHostsFile ~/kh\n",
	}
	tg, err := targetIn(t, home, files, "ssh_config = ~/cfg", "sshd.ip = web")
	if err != nil {
		t.Fatal(err)
	}
	if tg.Addr != "web:2201" || tg.User != "fromb" || tg.Identity != filepath.Join(home, "idb") || tg.KnownHosts != filepath.Join(home, "kh") || tg.ConnectTimeout != 5*time.Second {
		t.Errorf("got %s@%s identity %s known_hosts %s timeout %v", tg.User, tg.Addr, tg.Identity, tg.KnownHosts, tg.ConnectTimeout)
	}
	d := filepath.Join(home, ".ssh", "conf.d")
	want := []Setting{
		{"ssh_config", "~/cfg", filepath.Join(home, "conc.ini") + ":2"},
		{"sshd.port", "2201", filepath.Join(d, "a.conf") + ":1 (Port)"},
		{"admin", "fromb", filepath.Join(d, "b.conf") + ":1 (User)"},
		{"known_hosts", "~/kh", filepath.Join(home, "x y") + ":1 (UserKnownHostsFile)"},
		{"identity", "~/idb", filepath.Join(d, "b.conf") + ":6 (IdentityFile)"},
		{"ssh_config ConnectTimeout", "5", filepath.Join(home, "cfg") + ":3"},
	}
	if !reflect.DeepEqual(tg.Settings, want) {
		t.Errorf("settings:\n%s\nwant:\n%s", settingsText(tg.Settings), settingsText(want))
	}
}

// TestIncludeSystemRelative: in a config under /etc/ssh a relative Include
// is relative to /etc/ssh, as OpenSSH reads it.
func TestIncludeSystemRelative(t *testing.T) {
	l := &loader{home: "/home/u", system: true}
	for a, want := range map[string]string{"conf.d/*": "/etc/ssh/conf.d/*", "~/x": "/home/u/x", "/abs": "/abs"} {
		if got, err := l.includePath(a); err != nil || got != want {
			t.Errorf("system includePath(%q) = %q, %v; want %q", a, got, err, want)
		}
	}
	l.system = false
	if got, _ := l.includePath("conf.d/*"); got != "/home/u/.ssh/conf.d/*" {
		t.Errorf("user includePath(conf.d/*) = %q", got)
	}
}

func TestCutIncludes(t *testing.T) {
	in := "Host a\n  Include x\n\tinclude=\"a b\" c # note\r\n \rINCLUDE y\nIncluded z\nIdentityFile Include\nInclude"
	out, incs := cutIncludes([]byte(in))
	wantOut := "Host a\n#\n#\n#\nIncluded z\nIdentityFile Include\n#"
	if string(out) != wantOut {
		t.Errorf("cut:\n%q\nwant\n%q", out, wantOut)
	}
	want := []include{{2, []string{"x"}}, {3, []string{"a b", "c"}}, {4, []string{"y"}}, {7, nil}}
	if !reflect.DeepEqual(incs, want) {
		t.Errorf("includes %+v, want %+v", incs, want)
	}
}

// TestIncludeBudget: the files and bytes conc reads are bounded, Includes
// included, with an error at the Include that went past the bound.
func TestIncludeBudget(t *testing.T) {
	t.Run("fan-out", func(t *testing.T) {
		home := t.TempDir()
		files := map[string]string{"L5": "Host zzz\n  HostName 10.0.0.1\n"}
		for l := 4; l >= 0; l-- {
			files[fmt.Sprintf("L%d", l)] = strings.Repeat(fmt.Sprintf("Include $HOME/L%d\n", l+1), 40)
		}
		start := time.Now()
		_, err := targetIn(t, home, files, "ssh_config = ~/L0", "sshd.ip = web")
		wantFileError(t, err, home, "L4:6", "at most 256 files", "L5 would be file 257")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		home := t.TempDir()
		big := strings.Repeat("# padding padding padding padding\n", (3<<20)/34)
		files := map[string]string{"cfg": "Include ~/a\nInclude ~/b\n", "a": big, "b": big}
		_, err := targetIn(t, home, files, "ssh_config = ~/cfg", "sshd.ip = web")
		wantFileError(t, err, home, "cfg:2", filepath.Join(home, "b")+" is too long", "at most 4194304 bytes")
	})
	t.Run("top file too long", func(t *testing.T) {
		home := t.TempDir()
		files := map[string]string{"cfg": strings.Repeat("#\n", 3<<20)}
		_, err := targetIn(t, home, files, "ssh_config = ~/cfg", "sshd.ip = web")
		wantFileError(t, err, home, "conc.ini:2", "cannot read", "cfg is too long", "at most 4194304 bytes")
	})
	t.Run("self", func(t *testing.T) {
		home := t.TempDir()
		files := map[string]string{"cfg": "Include ~/cfg\n"}
		_, err := targetIn(t, home, files, "ssh_config = ~/cfg", "sshd.ip = web")
		wantFileError(t, err, home, "cfg:1", "nests Includes more than 16 deep")
	})
	t.Run("no file", func(t *testing.T) {
		home := t.TempDir()
		files := map[string]string{"cfg": "Host web\n  Include\n"}
		_, err := targetIn(t, home, files, "ssh_config = ~/cfg", "sshd.ip = web")
		wantFileError(t, err, home, "cfg:2", "Include names no file")
	})
	t.Run("parse error in an included file", func(t *testing.T) {
		home := t.TempDir()
		files := map[string]string{"cfg": "Include ~/inc\n", "inc": "Host a\nMatch exec true\n"}
		_, err := targetIn(t, home, files, "ssh_config = ~/cfg", "sshd.ip = web")
		wantFileError(t, err, home, "inc:2", "parse the OpenSSH client config", "Match Exec")
	})
}

// TestSSHConfigCache: a config is read once per process while none of its
// files changes, and again when one does.
func TestSSHConfigCache(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	cfg, inc := filepath.Join(home, "cfg"), filepath.Join(home, "inc")
	os.WriteFile(cfg, []byte("Include ~/inc\n"), 0o600)
	os.WriteFile(inc, []byte("Port 1\n"), 0o600)
	a, err := loadSSHConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadSSHConfig(cfg)
	if err != nil || a != b {
		t.Fatalf("second load: %p, %v; want the cached %p", b, err, a)
	}
	os.WriteFile(inc, []byte("Port 22\n"), 0o600)
	c, err := loadSSHConfig(cfg)
	if err != nil || c == a {
		t.Fatalf("load after the Include'd file changed: %p, %v; want a new one", c, err)
	}
	if f, _ := c.get("x", "Port"); f.value != "22" {
		t.Errorf("Port %q after the change, want 22", f.value)
	}
}
