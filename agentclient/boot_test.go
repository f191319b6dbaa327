package agentclient

import (
	"strings"
	"testing"

	"github.com/concdeploy/conc/channel"
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

// TestBootCommandPrelude: a prelude makes the script open it on file
// descriptor 3 and start every agent with --prelude, and reads nothing of
// stdin for it; without one, the script is as it was.
func TestBootCommandPrelude(t *testing.T) {
	agents := Agents{"amd64": {Arch: "amd64", Hash: strings.Repeat("a", 64)}}
	with := bootCommand(agents, nil, 0, []byte("hello"), false)
	if !strings.HasPrefix(with, "exec 3<<'CONC_PRELUDE'\naGVsbG8=\nCONC_PRELUDE\n") {
		t.Errorf("the script does not start with the prelude:\n%s", with)
	}
	if n, m := strings.Count(with, `exec "$f"`), strings.Count(with, `exec "$f" --prelude`); n != 3 || m != n {
		t.Errorf("%d of %d starts of the agent carry --prelude, want 3 of 3", m, n)
	}
	if !strings.Contains(with, "head -c 0 >") {
		t.Error("with a prelude, the script still throws away stdin")
	}
	without := bootCommand(agents, nil, 42, nil, false)
	if strings.Contains(without, "CONC_PRELUDE") || strings.Contains(without, "--prelude") || !strings.Contains(without, "head -c 42 >") {
		t.Errorf("without a prelude:\n%s", without)
	}
}
