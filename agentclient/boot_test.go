package agentclient

import (
	"bufio"
	"context"
	"strings"
	"testing"

	"github.com/concdeploy/conc/channel"
	"github.com/concdeploy/conc/jobs"
)

// TestInlinePrelude: the hello goes in the boot command only when it
// holds nothing secret and fits in one argument.
func TestInlinePrelude(t *testing.T) {
	small := make([]byte, 100)
	for _, c := range []struct {
		name  string
		hello channel.Hello
		frame []byte
		want  bool
	}{
		{"plain", channel.Hello{Params: map[string]string{"venv": "venvs/app"}}, small, true},
		{"sudo password", channel.Hello{Sudo: []byte("pw")}, small, false},
		{"secret param", channel.Hello{Params: map[string]string{"DB_Password": "x"}}, small, false},
		{"secret param, empty", channel.Hello{Params: map[string]string{"api_token": ""}}, small, true},
		{"a key", channel.Hello{Params: map[string]string{"Stripe_API_Key": "sk"}}, small, false},
		{"credentials", channel.Hello{Params: map[string]string{"aws_credentials": "x"}}, small, false},
		{"a DSN", channel.Hello{Params: map[string]string{"db_dsn": "postgres://u:p@h/db"}}, small, false},
		{"at the limit", channel.Hello{}, make([]byte, maxInline/4*3), true},
		{"past the limit", channel.Hello{}, make([]byte, maxInline/4*3+1), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := inlinePrelude(&c.hello, c.frame); got != c.want {
				t.Errorf("inlinePrelude = %v, want %v", got, c.want)
			}
		})
	}
}

// TestBootCommandFits: the largest boot command conc sends, with a
// prelude at its limit and agents for two architectures, is within the
// 9,000 bytes Dropbear takes.
func TestBootCommandFits(t *testing.T) {
	agents := Agents{"amd64": {Arch: "amd64", Hash: strings.Repeat("a", 64)}, "arm64": {Arch: "arm64", Hash: strings.Repeat("b", 64)}}
	stamps := map[string]string{strings.Repeat("a", 64): "123456789 4169890 2026-12-04 10:24:55.123456789 +0000", strings.Repeat("b", 64): "123456790 3997858 2026-12-04 10:24:56.123456789 +0000"}
	frame := make([]byte, maxInline/4*3)
	if !inlinePrelude(&channel.Hello{}, frame) {
		t.Fatal("a prelude at the limit is not inlined")
	}
	if n := len(bootCommand(agents, stamps, 0, frame, false)); n > 9000 {
		t.Errorf("the boot command is %d bytes, over Dropbear's 9,000", n)
	}
}

// TestBootCommandPrelude: a prelude makes the script open it on file
// descriptor 9 and start every agent with --prelude, and reads nothing of
// stdin for it; without one, the script is as it was.
func TestBootCommandPrelude(t *testing.T) {
	agents := Agents{"amd64": {Arch: "amd64", Hash: strings.Repeat("a", 64)}}
	with := bootCommand(agents, nil, 0, []byte("hello"), false)
	if !strings.HasPrefix(with, "conc_start() { exec \"$f\" --prelude; } 9<<'CONC_PRELUDE'\naGVsbG8=\nCONC_PRELUDE\n") {
		t.Errorf("the script does not start with the prelude:\n%s", with)
	}
	if n, m := strings.Count(with, `exec "$f"`), strings.Count(with, `{ conc_start; exec "$f" --prelude; }`); n != 1+3 || m != 3 {
		t.Errorf("%d of %d starts of the agent go through conc_start, want 3 of 3", m, n-1)
	}
	if !strings.Contains(with, "head -c 0 >") {
		t.Error("with a prelude, the script still throws away stdin")
	}
	without := bootCommand(agents, nil, 42, nil, false)
	if strings.Contains(without, "CONC_PRELUDE") || strings.Contains(without, "--prelude") || !strings.Contains(without, "head -c 42 >") {
		t.Errorf("without a prelude:\n%s", without)
	}
}

// TestBootstrapPreludeLost: an agent that says the script's prelude did
// not reach it gets the frames on stdin, once; the same line from a boot
// whose hello went on stdin is refused as what it is, a stranger's line.
func TestBootstrapPreludeLost(t *testing.T) {
	frame := []byte("\x00\x00\x00\x05hello")
	lost := channel.PreludeLost + "\n"
	for _, c := range []struct {
		name    string
		out     string
		inlined bool
		stdin   string
		err     string
	}{
		{"lost", lost + "\x00", true, string(frame), ""},
		{"lost after an upload", "conc-boot installed\n" + lost + "\x00", true, string(frame), ""},
		{"lost twice", lost + lost, true, string(frame), "printed"},
		{"not inlined", lost, false, "", "printed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdin strings.Builder
			a := &agentStart{stderr: jobs.NewTail(nil)}
			err := a.bootstrap(context.Background(), bufio.NewReader(strings.NewReader(c.out)), &stdin, nil, frame, c.inlined)
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("bootstrap: %v, want %q", err, c.err)
			}
			if stdin.String() != c.stdin {
				t.Errorf("wrote %q on stdin, want %q", stdin.String(), c.stdin)
			}
			if want := c.inlined; a.preludeLost != want {
				t.Errorf("preludeLost = %v, want %v", a.preludeLost, want)
			}
		})
	}
}
