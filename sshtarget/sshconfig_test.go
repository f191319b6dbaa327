package sshtarget

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/concdeploy/conc/config"
)

// resolve writes ssh_config (when not "-") to HOME/cfg, webConfig to
// HOME/inc for Include, and a deploy file
// whose [defaults] and [node n1] hold the given lines, with HOME a fresh
// directory; it returns n1's Target, HOME and the error.
func resolve(t *testing.T, sshConfig, defaults, node string) (Target, string, error) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.WriteFile(filepath.Join(home, "inc"), []byte(webConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if sshConfig != "-" {
		sshConfig = strings.ReplaceAll(sshConfig, "$HOME", home)
		if err := os.WriteFile(filepath.Join(home, "cfg"), []byte(sshConfig), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, n := loadNode(t, home, defaults, node)
	tg, err := TargetOf(n, f.Dir)
	return tg, home, err
}

func localUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

const webConfig = `Host web
  HostName 127.0.0.1
  Port 2222
  User root
  IdentityFile ~/keys/id_web
  UserKnownHostsFile ~/kh
  ConnectTimeout 7

Host *
  Port 3333
  User nobody
`

func TestTargetOfSSHConfig(t *testing.T) {
	tests := []struct {
		name            string
		sshConfig       string // at ~/cfg
		defaults, node  string
		addr, user      string
		identity, known string // relative to HOME
		withAgent       bool
		timeout         time.Duration
		jumps           []string // each hop as user@addr identity known agent
	}{
		{
			name:      "alias with HostName Port User IdentityFile UserKnownHostsFile ConnectTimeout",
			sshConfig: webConfig, defaults: "ssh_config = ~/cfg", node: "sshd.ip = web",
			addr: "127.0.0.1:2222", user: "root", identity: "keys/id_web", known: "kh", withAgent: true, timeout: 7 * time.Second,
		},
		{
			name:      "the deploy file wins where it sets a param and built-in defaults do not",
			sshConfig: webConfig, defaults: "ssh_config = ~/cfg\nadmin = deploy\nidentity = ~/mine\nknown_hosts = ~/known", node: "sshd.ip = web\nsshd.port = 22",
			addr: "127.0.0.1:22", user: "deploy", identity: "mine", known: "known", timeout: 7 * time.Second,
		},
		{
			name:      "op_key wins over IdentityFile",
			sshConfig: webConfig, defaults: "ssh_config = ~/cfg\nop_key = ops", node: "sshd.ip = web",
			addr: "127.0.0.1:2222", user: "root", identity: ".ssh/id_rsa-ops", known: "kh", timeout: 7 * time.Second,
		},
		{
			name:      "first match wins per keyword and later Host blocks fill in the rest",
			sshConfig: "Host db\n  HostName 10.0.0.9\nHost *\n  Port 3333\n  User nobody\n", defaults: "ssh_config = ~/cfg", node: "sshd.ip = db",
			addr: "10.0.0.9:3333", user: "nobody", known: ".ssh/known_hosts",
		},
		{
			name:      "IdentitiesOnly yes means the key alone",
			sshConfig: "Host web\n  IdentityFile /k/id\n  IdentitiesOnly yes\n", defaults: "ssh_config = ~/cfg", node: "sshd.ip = web",
			addr: "web:22", user: "<local>", identity: "/k/id", known: ".ssh/known_hosts",
		},
		{
			name:      "ssh_config = none reads nothing",
			sshConfig: webConfig, defaults: "ssh_config = none", node: "sshd.ip = web",
			addr: "web:22", user: "<local>", known: ".ssh/known_hosts",
		},
		{
			name:      "no ssh_config param and no ~/.ssh/config",
			sshConfig: "-", node: "sshd.ip = web",
			addr: "web:22", user: "<local>", known: ".ssh/known_hosts",
		},
		{
			name:      "Include",
			sshConfig: "Include $HOME/inc\n", defaults: "ssh_config = ~/cfg", node: "sshd.ip = web",
			addr: "127.0.0.1:2222", user: "root", identity: "keys/id_web", known: "kh", withAgent: true, timeout: 7 * time.Second,
		},
		{
			name:      "HostName %h",
			sshConfig: "Host web\n  HostName %h.example.com\n", defaults: "ssh_config = ~/cfg", node: "sshd.ip = web",
			addr: "web.example.com:22", user: "<local>", known: ".ssh/known_hosts",
		},
		{
			name:      "ProxyJump with user@host:port and an alias with its own settings",
			sshConfig: "Host web\n  HostName 10.1.0.5\n  User app\n  ProxyJump ops@gw.example.com:2200,inner\nHost inner\n  HostName 10.1.0.1\n  IdentityFile /k/inner\n  UserKnownHostsFile /kh/inner\n",
			defaults:  "ssh_config = ~/cfg", node: "sshd.ip = web",
			addr: "10.1.0.5:22", user: "app", known: ".ssh/known_hosts",
			jumps: []string{"ops@gw.example.com:2200  .ssh/known_hosts false", "app@10.1.0.1:22 /k/inner /kh/inner true"},
		},
		{
			name:      "for a hop the deploy file's identity wins over its IdentityFile, ssh_config fills in the rest",
			sshConfig: "Host web\n  HostName 10.1.0.5\n  User app\n  ProxyJump ops@gw.example.com:2200,inner\nHost inner\n  HostName 10.1.0.1\n  IdentityFile /k/inner\n  UserKnownHostsFile /kh/inner\n",
			defaults:  "ssh_config = ~/cfg\nidentity = /k/node", node: "sshd.ip = web",
			addr: "10.1.0.5:22", user: "app", identity: "/k/node", known: ".ssh/known_hosts",
			jumps: []string{"ops@gw.example.com:2200 /k/node .ssh/known_hosts false", "app@10.1.0.1:22 /k/node /kh/inner false"},
		},
		{
			name: "for a hop the deploy file's admin, identity and known_hosts win over Host *, its own user@host:port wins",
			sshConfig: "Host bastion\n  HostName 10.0.0.1\n  Port 2200\n" +
				"Host *\n  User alice\n  IdentityFile ~/.ssh/id_personal\n  UserKnownHostsFile ~/.ssh/known_hosts_personal\n",
			defaults: "ssh_config = ~/cfg\nadmin = deploy\nidentity = ~/deploy_key\nknown_hosts = ~/deploy_kh",
			node:     "sshd.ip = 10.0.0.9\njump = bastion, ops@gw2:2022",
			addr:     "10.0.0.9:22", user: "deploy", identity: "deploy_key", known: "deploy_kh",
			jumps: []string{"deploy@10.0.0.1:2200 deploy_key deploy_kh false", "ops@gw2:2022 deploy_key deploy_kh false"},
		},
		{
			name:      "for a hop op_key wins over Host * IdentityFile",
			sshConfig: "Host *\n  IdentityFile ~/.ssh/id_personal\n",
			defaults:  "ssh_config = ~/cfg\nop_key = ops", node: "sshd.ip = 10.0.0.9\njump = gw",
			addr: "10.0.0.9:22", user: "<local>", identity: ".ssh/id_rsa-ops", known: ".ssh/known_hosts",
			jumps: []string{"<local>@gw:22 .ssh/id_rsa-ops .ssh/known_hosts false"},
		},
		{
			name:      "for a hop ssh_config supplies what the deploy file leaves unset",
			sshConfig: "Host *\n  User alice\n  IdentityFile ~/.ssh/id_personal\n  IdentitiesOnly yes\n  UserKnownHostsFile ~/.ssh/known_hosts_personal\n",
			defaults:  "ssh_config = ~/cfg", node: "sshd.ip = 10.0.0.9\njump = gw",
			addr: "10.0.0.9:22", user: "alice", identity: ".ssh/id_personal", known: ".ssh/known_hosts_personal",
			jumps: []string{"alice@gw:22 .ssh/id_personal .ssh/known_hosts_personal false"},
		},
		{
			name:      "jump = wins over ProxyJump",
			sshConfig: "Host web\n  ProxyJump gw\n", defaults: "ssh_config = ~/cfg\nadmin = deploy", node: "sshd.ip = web\njump = [::1]:2222",
			addr: "web:22", user: "deploy", known: ".ssh/known_hosts",
			jumps: []string{"deploy@[::1]:2222  .ssh/known_hosts false"},
		},
		{
			name:      "jump = none overrides ProxyJump",
			sshConfig: "Host web\n  ProxyJump gw\n", defaults: "ssh_config = ~/cfg\njump = gw", node: "sshd.ip = web\njump = none",
			addr: "web:22", user: "<local>", known: ".ssh/known_hosts",
		},
		{
			name:      "ProxyJump none",
			sshConfig: "Host web\n  ProxyJump none\nHost *\n  ProxyJump gw\n", defaults: "ssh_config = ~/cfg", node: "sshd.ip = web",
			addr: "web:22", user: "<local>", known: ".ssh/known_hosts",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, home, err := resolve(t, tt.sshConfig, tt.defaults, tt.node)
			if err != nil {
				t.Fatal(err)
			}
			abs := func(p string) string {
				if p == "" || filepath.IsAbs(p) {
					return p
				}
				return filepath.Join(home, p)
			}
			want := tt.user
			if want == "<local>" {
				want = localUser(t)
			}
			if tg.Addr != tt.addr || tg.User != want || tg.Identity != abs(tt.identity) || tg.KnownHosts != abs(tt.known) || tg.WithAgent != tt.withAgent || tg.ConnectTimeout != tt.timeout {
				t.Errorf("got %s@%s identity %q (agent too: %v) known_hosts %q timeout %v\nwant %s@%s identity %q (agent too: %v) known_hosts %q timeout %v",
					tg.User, tg.Addr, tg.Identity, tg.WithAgent, tg.KnownHosts, tg.ConnectTimeout, want, tt.addr, abs(tt.identity), tt.withAgent, abs(tt.known), tt.timeout)
			}
			var hops []string
			for _, h := range tg.Jumps {
				hops = append(hops, fmt.Sprintf("%s@%s %s %s %v", h.User, h.Addr, h.Identity, h.KnownHosts, h.WithAgent))
			}
			var wantHops []string
			for _, h := range tt.jumps {
				f := strings.Split(strings.ReplaceAll(h, "<local>", localUser(t)), " ")
				wantHops = append(wantHops, f[0]+" "+abs(f[1])+" "+abs(f[2])+" "+f[3])
			}
			if !reflect.DeepEqual(hops, wantHops) {
				t.Errorf("jumps %q, want %q", hops, wantHops)
			}
		})
	}
}

// TestTargetOfDefaultSSHConfig: without the param, ~/.ssh/config is read
// when it exists.
func TestTargetOfDefaultSSHConfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	os.Mkdir(filepath.Join(home, ".ssh"), 0o700)
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(webConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, "conc.ini")
	os.WriteFile(path, []byte("[node n1]\nsshd.ip = web\n"), 0o600)
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := f.Node("n1")
	tg, err := TargetOf(n, f.Dir)
	if err != nil || tg.Addr != "127.0.0.1:2222" || tg.User != "root" {
		t.Errorf("got %s@%s, %v; want root@127.0.0.1:2222 from ~/.ssh/config", tg.User, tg.Addr, err)
	}
	want := Setting{Key: "ssh_config", Value: "~/.ssh/config", Where: "built-in default (the file exists)"}
	if len(tg.Settings) == 0 || tg.Settings[0] != want {
		t.Errorf("settings %+v, want first %+v", tg.Settings, want)
	}
}

// TestTargetOfProvenance: every value ssh_config supplied is noted with
// its file and line, the param it stands for and the keyword; one from an
// Include'd file with that file's line.
func TestTargetOfProvenance(t *testing.T) {
	tg, home, err := resolve(t, webConfig+"Host gw\n  HostName 10.9.9.9\nHost web\n  ProxyJump gw\n", "ssh_config = ~/cfg", "sshd.ip = web")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(home, "cfg")
	want := []Setting{
		{"ssh_config", "~/cfg", filepath.Join(home, "conc.ini") + ":2"},
		{"ssh_config HostName", "127.0.0.1", cfg + ":2"},
		{"sshd.port", "2222", cfg + ":3 (Port)"},
		{"admin", "root", cfg + ":4 (User)"},
		{"known_hosts", "~/kh", cfg + ":6 (UserKnownHostsFile)"},
		{"identity", "~/keys/id_web", cfg + ":5 (IdentityFile)"},
		{"ssh_config ConnectTimeout", "7", cfg + ":7"},
		{"jump", "gw", cfg + ":15 (ProxyJump)"},
		{"jump gw HostName", "10.9.9.9", cfg + ":13"},
		{"jump gw Port", "3333", cfg + ":10"},
		{"jump gw User", "nobody", cfg + ":11"},
	}
	if !reflect.DeepEqual(tg.Settings, want) {
		t.Errorf("settings:\n%s\nwant:\n%s", settingsText(tg.Settings), settingsText(want))
	}

	tg, home, err = resolve(t, "# first line\nInclude $HOME/inc\n", "ssh_config = ~/cfg", "sshd.ip = web")
	if err != nil {
		t.Fatal(err)
	}
	inc := filepath.Join(home, "inc")
	want = []Setting{
		{"ssh_config", "~/cfg", filepath.Join(home, "conc.ini") + ":2"},
		{"ssh_config HostName", "127.0.0.1", inc + ":2"},
		{"sshd.port", "2222", inc + ":3 (Port)"},
		{"admin", "root", inc + ":4 (User)"},
		{"known_hosts", "~/kh", inc + ":6 (UserKnownHostsFile)"},
		{"identity", "~/keys/id_web", inc + ":5 (IdentityFile)"},
		{"ssh_config ConnectTimeout", "7", inc + ":7"},
	}
	if !reflect.DeepEqual(tg.Settings, want) {
		t.Errorf("settings from an Include:\n%s\nwant:\n%s", settingsText(tg.Settings), settingsText(want))
	}
}

func settingsText(ss []Setting) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(s.Key + " = " + s.Value + " ; " + s.Where + "\n")
	}
	return b.String()
}

// TestTargetOfErrors: a bad value names where it was set, the deploy
// file's param or the ssh_config line, and is a deploy-file error (exit 2).
func TestTargetOfErrors(t *testing.T) {
	tests := []struct {
		name, sshConfig, defaults, node string
		where, want                     string // where: "conc.ini:N" or "cfg:N" or "cfg"
	}{
		{"named file missing", "-", "ssh_config = ~/nope", "sshd.ip = web", "conc.ini:2", "ssh_config = ~/nope names an OpenSSH client config conc cannot read"},
		{"unparsable file", "Host a\n  Port 2\nMatch exec true\n", "ssh_config = ~/cfg", "sshd.ip = web", "cfg:3", "parse the OpenSSH client config (fix it, or name another file in ssh_config at "},
		{"bad Port", "Host web\n  Port 99999\n", "ssh_config = ~/cfg", "sshd.ip = web", "cfg:2", "Port \"99999\""},
		{"HostName that is an option", "Host web\n  HostName -oProxyCommand=x\n", "ssh_config = ~/cfg", "sshd.ip = web", "cfg:2", "HostName"},
		{"User that is an option", "Host web\n  User -oProxyCommand=x\n", "ssh_config = ~/cfg", "sshd.ip = web", "cfg:2", "User"},
		{"IdentityFile with a comma", "Host web\n  IdentityFile /k/a,ProxyCommand=x\n", "ssh_config = ~/cfg", "sshd.ip = web", "cfg:2", "IdentityFile"},
		{"unknown token", "Host web\n  IdentityFile ~/.ssh/%C\n", "ssh_config = ~/cfg", "sshd.ip = web", "cfg:2", "%C"},
		{"UserKnownHostsFile none", "Host web\n  UserKnownHostsFile none\n", "ssh_config = ~/cfg", "sshd.ip = web", "cfg:2", "checks every host key"},
		{"bad ConnectTimeout", "Host web\n  ConnectTimeout soon\n", "ssh_config = ~/cfg", "sshd.ip = web", "cfg:2", "ConnectTimeout"},
		{"bad ProxyJump", "Host web\n  ProxyJump a,,b\n", "ssh_config = ~/cfg", "sshd.ip = web", "cfg:2", "ProxyJump \"a,,b\" for web: hop 2"},
		{"bad jump =", "-", "", "sshd.ip = web\njump = root@", "conc.ini:5", "jump = \"root@\": hop 1 (\"root@\")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, home, err := resolve(t, tt.sshConfig, tt.defaults, tt.node)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *config.Error", err)
			}
			if where := filepath.Join(home, tt.where); !strings.HasPrefix(err.Error(), where+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it at %s naming %q", err, where, tt.want)
			}
		})
	}
}

// loadNode writes a deploy file in home with defaults and node n1's
// params ($HOME standing for home), loads it and resolves n1.
func loadNode(t *testing.T, home, defaults, node string) (*config.File, *config.Node) {
	t.Helper()
	ini := "[defaults]\n" + defaults + "\n[node n1]\n" + node + "\n"
	path := filepath.Join(home, "conc.ini")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(ini, "$HOME", home)), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.Node("n1")
	if err != nil {
		t.Fatal(err)
	}
	return f, n
}
