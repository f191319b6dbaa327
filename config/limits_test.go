package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
)

// resolveAll loads a deploy file and resolves what conc would: every node,
// its tests, and every plan for it. It hands every error to check and
// returns the first.
func resolveAll(paths []string, check func(error)) error {
	var first error
	report := func(err error) {
		if err != nil {
			check(err)
			if first == nil {
				first = err
			}
		}
	}
	f, err := Load(paths...)
	if err != nil {
		report(err)
		return first
	}
	for _, name := range f.NodeNames() {
		n, err := f.Node(name)
		if err != nil {
			report(err)
			continue
		}
		report(formatParams(io.Discard, n))
		_, err = f.Tests(n)
		report(err)
		for _, pl := range f.PlanNames() {
			_, err := f.Plan(testOps, pl, n)
			report(err)
		}
	}
	_, err = f.Targets(append(f.NodeNames(), f.order[kindGroup]...))
	report(err)
	return first
}

// formatParams writes a node's params as conc config does.
func formatParams(w io.Writer, n *Node) error {
	keys := make([]string, 0, len(n.Params))
	for k := range n.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, k := range keys {
		v := n.Params[k].Value
		if IsSecret(k) {
			v = "<redacted>"
		}
		fmt.Fprintf(tw, "%s = %s\t; %s\n", k, v, n.Params[k].Pos)
	}
	return tw.Flush()
}

// wantFileError fails unless err is a *Error at path:line whose message
// contains want.
func wantFileError(tb testing.TB, err error, path string, line int, want string) {
	tb.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		tb.Fatalf("got %v, want a config error", err)
	}
	if ce.Pos.File != path || ce.Pos.Line != line {
		tb.Errorf("error at %s, want %s:%d (%v)", ce.Pos, path, line, err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, fmt.Sprintf("%s:%d: ", path, line)) || !strings.Contains(msg, want) {
		tb.Errorf("error %q, want it to start with the file and line and contain %q", clip(msg), want)
	}
}

// doubling is a chain of keys each twice the size of the next: 2^26 bytes
// at the top, from a few lines.
func doubling() string {
	var b strings.Builder
	b.WriteString("[defaults]\n")
	for i := 0; i < 26; i++ {
		fmt.Fprintf(&b, "k%02d = ${k%02d}${k%02d}\n", i, i+1, i+1)
	}
	b.WriteString("k26 = x\n[node a]\nsshd.ip = x\n[test use]\nrun = ${k00}\n")
	return b.String()
}

func deepChain() string {
	var b strings.Builder
	b.WriteString("[defaults]\n")
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&b, "d%03d = ${d%03d}\n", i, i+1)
	}
	b.WriteString("d150 = x\n[node a]\nsshd.ip = x\n[test use]\nrun = ${d000}\n")
	return b.String()
}

func manyCopies() string {
	var b strings.Builder
	b.WriteString("[defaults]\nbig = " + strings.Repeat("x", 1000<<10) + "\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "c%d = ${big}\n", i)
	}
	b.WriteString("[node a]\nsshd.ip = x\n[test use]\nrun = ${c1}${c2}${c3}${c4}${c5}${c6}${c7}${c8}${c9}\n")
	return b.String()
}

const node = "[node a]\nsshd.ip = x\n"

// TestLimits covers input that used to panic, exhaust memory or fail
// without naming its line.
func TestLimits(t *testing.T) {
	big := strings.Repeat("x", 600<<10)
	tests := []struct {
		name, content string
		wantLine      int
		wantMsg       string
	}{
		{"empty non-step key in plan", node + "[plan p]\nstep = remote ping\nsteps =\n", 5, "holds only step"},
		{"only an empty non-step key in plan", node + "[plan p]\nsteps =\n", 4, "holds only step"},
		{"empty step", node + "[plan p]\nstep = remote open_bundle\nstep =\n", 5, "empty step"},
		{"line over 1 MiB", node + "big = " + strings.Repeat("x", 1<<20) + "\n", 3, "line longer than 1048576 bytes"},
		{"empty bundle", node + "bundle =\n", 3, "bundle is empty"},
		{"empty group", node + "[group g]\nnodes =\n", 4, "empty nodes ="},
		{"empty bundle in defaults", "[defaults]\nbundle =\n" + node, 2, "bundle is empty"},
		{"empty value set twice", node + "sshd.ip =\n", 3, "set twice"},
		{"doubling chain", doubling(), 7, "${k05} (through k00 -> k01 -> k02 -> k03 -> k04 -> k05), once ${k06} is substituted, is longer than 1048576 bytes"},
		{"deep chain", deepChain(), 102, "nested more than 100 keys deep (d000 -> d001"},
		{"many copies", manyCopies(), 10, "past 8388608 bytes (8 MiB) in all"},
		{"long step", node + "big = " + big + "\n[plan p]\nstep = remote open_bundle\nstep = remote run ${big} ${big}\n", 6, "step 2, once ${big} is substituted, is longer than 1048576 bytes"},
		{"long test value", node + "big = " + big + "\n[test t]\nrun = ${big}${big}\n", 5, "[test t] run, once ${big} is substituted"},
		{"unclosed ref", node + "x.x = ${y\n", 3, "unclosed ${"},
		{"blank header", "[ ]\n", 1, "empty section header"},
		{"empty header", "[]\n", 1, "empty section header"},
		{"DEFAULT section", "[DEFAULT]\nadmin = x\n", 1, "unknown section [DEFAULT]"},
		{"empty key", node + "= x\n", 3, `bad key ""`},
		{"quoted key", node + "\"admin\" = x\n", 3, "bad key"},
		{"bracket in name", "[node a]]\nsshd.ip = x\n", 1, "a section header reads [node NAME]"},
		{"key after unknown", "\nx = 1\n", 2, "outside any section"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, "site.ini", tt.content)
			err := resolveAll([]string{path}, func(error) {})
			wantFileError(t, err, path, tt.wantLine, tt.wantMsg)
		})
	}
}

// TestInjection covers params that reach sshfs's command line
// (jobs/localops mount_sshfs): nothing in them may add an option.
func TestInjection(t *testing.T) {
	tests := []struct {
		name, param string
		wantMsg     string // "" when the value is fine
	}{
		{"identity with ProxyCommand", "identity = KEYFILE,ProxyCommand=touch MARKER", `identity = "KEYFILE,ProxyCommand=touch MARKER" holds ',', which cannot go into sshfs's -o IdentityFile=`},
		{"identity with escape", `identity = key\,x`, `holds '\\'`},
		{"identity with CR", "identity = key\r,x", "a control character (U+000D)"},
		{"identity with NUL", "identity = key\x00x", "a control character (U+0000)"},
		{"identity with tab", "identity = key\tx", "a control character (U+0009)"},
		{"identity through a key", "k = a,ProxyCommand=x\nidentity = ~/${k}", "holds ','"},
		{"known_hosts with comma", "known_hosts = kh,ProxyCommand=x", "-o UserKnownHostsFile="},
		{"op_key with comma", "op_key = x,ProxyCommand=y", "op_key = "},
		{"admin option", "admin = -oProxyCommand=x", "starts with '-'"},
		{"admin colon", "admin = me:x", `holds ':'`},
		{"admin comma", "admin = me,x", `holds ','`},
		{"host option", "sshd.ip = -oProxyCommand=x", "not an IPv4 or IPv6 address or a host name"},
		{"host comma", "sshd.ip = h,x", "not an IPv4"},
		{"host space", "sshd.ip = h x", "not an IPv4"},
		{"host user", "sshd.ip = u@h", "not an IPv4"},
		{"host path", "sshd.ip = h:/x", "not an IPv4"},
		{"host bracketed v4", "sshd.ip = [192.0.2.1]", "not an IPv4"},
		{"host bad zone", "sshd.ip = fe80::1%a,b", "not an IPv4"},
		{"bundle comma", "bundle = b,x", "name the bundle directory without it"},
		{"ipv4", "sshd.ip = 192.0.2.10", ""},
		{"ipv6", "sshd.ip = 2001:db8::10", ""},
		{"ipv6 bracketed", "sshd.ip = [::1]", ""},
		{"ipv6 zone", "sshd.ip = fe80::1%eth0", ""},
		{"host name", "sshd.ip = node1.example.com", ""},
		{"identity with space", "identity = ~/my keys/id", ""},
		{"admin with domain", "admin = me@corp.example", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := "[node a]\n" + tt.param + "\n"
			if !strings.HasPrefix(tt.param, KeyIP) {
				content += "sshd.ip = x\n"
			}
			path := write(t, "conc.ini", content)
			err := resolveAll([]string{path}, func(error) {})
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			wantFileError(t, err, path, 2+strings.Count(tt.param, "\n"), tt.wantMsg)
		})
	}
}

func TestInjectionThroughDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a,ProxyCommand=x")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "conc.ini")
	for _, tt := range []struct{ identity, wantMsg string }{
		{"keys/id", "relative to the deploy file's directory"},
		{"~keys/id", "relative to the deploy file's directory"},
		{"/keys/id", ""},
		{"~/keys/id", ""},
	} {
		if err := os.WriteFile(path, []byte("[node a]\nsshd.ip = x\nidentity = "+tt.identity+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := resolveAll([]string{path}, func(error) {})
		if tt.wantMsg == "" {
			if err != nil {
				t.Errorf("identity %s: %v", tt.identity, err)
			}
			continue
		}
		wantFileError(t, err, path, 3, tt.wantMsg)
	}
}

func TestValue(t *testing.T) {
	tests := []struct{ raw, want string }{
		{" plain ", "plain"},
		{"a ; comment", "a"},
		{"a # comment", "a"},
		{"a ; b # c", "a"},
		{"a # b ; c", "a"},
		{"a;b#c", "a;b#c"},
		{`"hello world"`, "hello world"},
		{`'hello'`, "hello"},
		{"`date`", "date"},
		{`"a" b "c"`, `"a" b "c"`},
		{`remote run "x"`, `remote run "x"`},
		{`""`, ""},
		{`"`, `"`},
		{`"""x"""`, `"""x"""`},
		{"`a", "`a"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := value(tt.raw); got != tt.want {
			t.Errorf("value(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestEmptyValues(t *testing.T) {
	path := write(t, "conc.ini", "[defaults]\nidentity = ~/.ssh/id\n[node a]\nsshd.ip = x\nidentity =\n[node b]\nsshd.ip = y\n[test t]\nnodes =\nrun = true\n")
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.Node("a")
	if err != nil {
		t.Fatal(err)
	}
	if p := a.Params[KeyIdentity]; p.Value != "" || p.Pos.Line != 5 {
		t.Errorf("identity = %q at %s, want it unset at line 5", p.Value, p.Pos)
	}
	for _, name := range []string{"a", "b"} {
		n, _ := f.Node(name)
		if tests, err := f.Tests(n); err != nil || len(tests) != 1 {
			t.Errorf("node %s: %d tests, %v; want an empty nodes = to select every node", name, len(tests), err)
		}
	}
}

// bytesAllocated is what fn allocates, in bytes.
func bytesAllocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestLinear checks that loading a file and formatting conc config's output
// grow linearly with a value's size, by what they allocate rather than by
// the clock: four times the input may cost about four times as much, where
// a quadratic step (as gopkg.in/ini.v1's reading of a value that spans
// lines was) costs sixteen.
func TestLinear(t *testing.T) {
	shapes := map[string]func(n int) string{
		"plain":      func(n int) string { return "x.big = " + strings.Repeat("a", n) + "\n" },
		"references": func(n int) string { return "x = y\nx.big = " + strings.Repeat("${x}", n/4) + "\n" },
		"tabs":       func(n int) string { return "x.big = " + strings.Repeat("a\t", n/2) + "\n" },
		"spans lines": func(n int) string {
			var b strings.Builder
			b.WriteString("x.big = `\n")
			for i := 0; b.Len() < n; i++ {
				fmt.Fprintf(&b, "x.k%d = v\n", i)
			}
			return b.String() + "x.end = `\n"
		},
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			cost := func(n int) uint64 {
				path := write(t, "conc.ini", "[node a]\nsshd.ip = x\n"+shape(n))
				return bytesAllocated(func() {
					if err := resolveAll([]string{path}, func(error) {}); err != nil {
						t.Fatal(err)
					}
				})
			}
			cost(1 << 10) // warm up
			small, large := cost(32<<10), cost(128<<10)
			t.Logf("%d bytes allocated for 32 KiB, %d for 128 KiB", small, large)
			if ratio := float64(large) / float64(small); ratio > 6 {
				t.Errorf("4x the input allocates %.1fx as much (%d bytes, then %d): not linear", ratio, small, large)
			}
		})
	}
}

// TestFourMiB loads and formats a 4 MiB file of 1 MiB values.
func TestFourMiB(t *testing.T) {
	var b strings.Builder
	b.WriteString("[node a]\nsshd.ip = x\n")
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&b, "x.v%d = %s\n", i, strings.Repeat("v", 1<<20-16))
	}
	f, err := Load(write(t, "conc.ini", b.String()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.Node("a")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := formatParams(&out, n); err != nil {
		t.Fatal(err)
	}
	if out.Len() < 4<<20-64 {
		t.Errorf("formatted %d bytes, want all four values", out.Len())
	}
}
