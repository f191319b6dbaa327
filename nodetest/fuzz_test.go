package nodetest

import (
	"strings"
	"testing"
)

// FuzzCompile compiles a [test NAME] section made of arbitrary key = value
// lines: never a panic, and every refusal names where it was written.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"run = true\nexpect = ok",
		"file = /etc/passwd\nmode = 0644\nowner = root",
		"port = 127.0.0.1:22",
		"port = [::1]:22",
		"python = venvs/app json",
		"http = http://127.0.0.1:8080/health\nexpect_status = 200\nexpect_regex = (?m)^ok$",
		"run = x\nfile = y",
		"run = x\ntimeout = -5s\nskip = later",
		"run = x\nexpect_regex = (",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		d := Def{Name: "t", Pos: "conc.ini:1", Vals: map[string]string{}, KeyPos: map[string]string{}}
		for i, line := range strings.Split(text, "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k = strings.TrimSpace(k)
			if _, dup := d.Vals[k]; !dup {
				d.Keys = append(d.Keys, k)
			}
			d.Vals[k] = strings.TrimSpace(v)
			d.KeyPos[k] = "conc.ini:" + string(rune('1'+i%9))
		}
		if _, err := Compile(d); err != nil && !strings.HasPrefix(err.Error(), "conc.ini:") {
			t.Fatalf("an error that does not name where: %v", err)
		}
	})
}
