package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// loadSeeds are deploy files for FuzzLoad: the good file and the shapes of
// every bug found so far. More are in testdata/fuzz/FuzzLoad.
var loadSeeds = []string{
	good,
	strings.Replace(good, "pip_install_like", "run", 1),
	"[node a]\nsshd.ip = x\n[plan p]\nstep = remote ping\nsteps =\n",
	"[node a]\nsshd.ip = x\nbundle =\n",
	"[defaults]\na = ${b}${b}\nb = ${c}${c}\nc = ${d}${d}\nd = x\n[node n]\nsshd.ip = h\n",
	"[defaults]\nx = ${y}\ny = ${x}\n[node a]\nsshd.ip = x\n",
	"[node a]\nsshd.ip = x\nidentity = KEYFILE,ProxyCommand=touch MARKER\n",
	"[node a]\nsshd.ip = -oProxyCommand=x\nadmin = -x\n",
	"[ ]\n[]\n[DEFAULT]\n= x\n\"k\" = v\n",
	"[node a]\nsshd.ip = ::1\n[group g]\nnodes = a\n[test t]\nnodes =\ngroups = g\nrun = echo ${name}\n[plan p]\nstep = remote open_bundle\nstep = local mount_sshfs\nstep = remote close_bundle\n",
	"\uFEFF[node a]\r\nsshd.ip = x ; comment\r\nv = \"quoted\" # c\r\n",
}

// FuzzLoad loads arbitrary deploy files and resolves every node, test and
// plan in them: never a panic, and every error is a *Error that starts
// with the file and a line.
func FuzzLoad(f *testing.F) {
	for _, s := range loadSeeds {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "conc.ini")
	at := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:[1-9][0-9]*: `)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		resolveAll([]string{path}, func(err error) {
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos.Line < 1 || !at.MatchString(err.Error()) {
				t.Fatalf("got %T %q, want a *config.Error that starts with %s:LINE", err, clip(err.Error()), path)
			}
		})
	})
}

// FuzzExpand substitutes ${key} in arbitrary text, with val as the value
// of ${a}: never a panic, every error names the value's line, a result is
// never longer than maxValue, and text with every ${ escaped comes back
// unchanged.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "plain", "${a}", "$${a}", "$$${a}", "${", "${}", "${nope}", "$HOME $$ $", "x${a}y${b}z", "${a}${a}${a}${a}"} {
		f.Add(s, "value")
	}
	f.Add("${a}${a}", strings.Repeat("x", maxValue/2+1))
	at := scope{pos: Pos{"conc.ini", 7}, node: "n1", chain: []string{"k"}}
	prefix := "conc.ini:7: "
	f.Fuzz(func(t *testing.T, s, val string) {
		lookup := func(key string) (string, bool, error) {
			switch key {
			case "a":
				return val, true, nil
			case "b":
				return "${a}", true, nil
			}
			return "", false, nil
		}
		got, err := expand(s, at, lookup)
		var ce *Error
		switch {
		case err != nil && (!errors.As(err, &ce) || !strings.HasPrefix(err.Error(), prefix)):
			t.Fatalf("expand(%q): error %q does not start with %s", clip(s), clip(err.Error()), prefix)
		case err == nil && len(got) > maxValue:
			t.Fatalf("expand(%q) is %d bytes, over the %d limit", clip(s), len(got), maxValue)
		case err == nil && !strings.Contains(s, "$") && got != s:
			t.Fatalf("expand(%q) = %q, want it unchanged", clip(s), clip(got))
		}
		escaped := strings.ReplaceAll(s, "${", "$${")
		if len(escaped) > maxValue {
			return
		}
		never := func(key string) (string, bool, error) {
			t.Fatalf("expand(%q) looked up %q in text with every ${ escaped", escaped, key)
			return "", false, nil
		}
		if back, err := expand(escaped, at, never); err != nil || back != s {
			t.Fatalf("expand(%q) = %q, %v; want %q back", clip(escaped), clip(back), err, clip(s))
		}
	})
}
