package paramuse

import (
	"strings"
	"testing"
)

// TestOverrides: -p KEY=VALUE is applied above the node's own section, and
// refused for a key nothing knows (with a suggestion among the file's
// keys as well as conc's), a secret, conc's own name, a group setting, a
// bad key or a value with a line break.
func TestOverrides(t *testing.T) {
	file := write(t, "conc.ini", `[defaults]
admin = deploy
release = 1.0
[node n1]
sshd.ip = 192.0.2.1
release = 1.1
[plan deploy]
step = remote run "echo ${release} ${build_id}"
`)
	f, err := load(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		flags   []string
		wantErr string
	}{
		{[]string{"release=2.0"}, ""},
		{[]string{"release=1.5", "release=2.0"}, ""}, // the later wins
		{[]string{"build_id=7", "release=2.0"}, ""},  // used by ${}, set by none
		{[]string{"x.mine=1", "release=2.0"}, ""},
		{[]string{"relase=2.0"}, "did you mean -p release=...?"},
		{[]string{"sshd.prot=2222"}, "did you mean -p sshd.port=...?"},
		{[]string{"db_password=x"}, "secret"},
		{[]string{"name=n2"}, "set by conc"},
		{[]string{"batch=2"}, "give it as the flag --batch"},
		{[]string{"release"}, "want KEY=VALUE"},
		{[]string{"9lives=1"}, "bad key"},
		{[]string{"release=a\nb"}, "line break"},
	} {
		g, err := Apply(f, tt.flags)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("-p %q: got %v, want an error with %q", tt.flags, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("-p %q: %v", tt.flags, err)
			continue
		}
		n, err := g.Node("n1")
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Params["release"]; got.Value != "2.0" || got.Pos.String() != "-p (command line)" {
			t.Errorf("-p %q: release = %q from %s, want 2.0 from -p", tt.flags, got.Value, got.Pos)
		}
		if n0, _ := f.Node("n1"); n0.Get("release") != "1.1" {
			t.Errorf("-p changed the file it was applied to: release = %q", n0.Get("release"))
		}
	}
}
