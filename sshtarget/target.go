// Package sshtarget resolves where and how conc connects to a node: the
// deploy file's params first, then the OpenSSH client config's Host entry
// that sshd.ip names (HostName, User, Port, IdentityFile, IdentitiesOnly,
// UserKnownHostsFile, ProxyJump, ConnectTimeout), then conc's defaults;
// and the jump hosts, each resolved the same way. It only reads files:
// sshconn dials what it resolves.
package sshtarget

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"errors"
	"github.com/concdeploy/conc/config"
	"os"
)

// Target is a node to connect to, with its ssh_config applied and its
// paths resolved. A jump host is a Target too.
type Target struct {
	Name     string
	Addr     string // host:port, ssh_config's HostName and Port applied
	User     string
	Identity string // the private key file; "" means ssh-agent and the usual keys
	// WithAgent offers ssh-agent's keys as well as Identity, as ssh does
	// for an ssh_config IdentityFile without IdentitiesOnly.
	WithAgent  bool
	KnownHosts string
	// ConnectTimeout is ssh_config's ConnectTimeout; 0 for conc's default.
	ConnectTimeout time.Duration
	// Jumps are the jump hosts in order: each is dialled through the one
	// before it, and the node through the last.
	Jumps []Target
	// Settings are what ssh_config supplied, and where, for conc config.
	Settings []Setting
}

// Setting is a connection setting and where it came from, as conc config
// shows it.
type Setting struct {
	// Key is the param the value stands for (admin, sshd.port, identity,
	// known_hosts, jump, ssh_config), or "ssh_config KEYWORD" for one
	// without a param, or "jump HOP KEYWORD" for a jump host's.
	Key   string
	Value string
	Where string // FILE:LINE (Keyword), in the file that set it, Include'd or not
}

// TargetOf resolves a node's connection: the deploy file's params first,
// then the ssh_config entry that sshd.ip names, then conc's built-in
// defaults. Paths are relative to the deploy file's directory dir; without
// identity, op_key names ~/.ssh/id_rsa-${op_key}. Errors are deploy-file
// errors (*config.Error), at the param or the ssh_config line at fault.
func TargetOf(n *config.Node, dir string) (Target, error) {
	sc, err := openSSHConfig(n, dir)
	if err != nil {
		return Target{Name: n.Name}, err
	}
	r := &resolver{n: n, dir: dir, sc: sc, t: Target{Name: n.Name}}
	if err := r.node(); err != nil {
		return Target{Name: n.Name}, err
	}
	return r.t, nil
}

// SetParams puts into p, a node's params as ops see them, the connection
// conc makes: the admin, address, port, key and known_hosts it uses, with
// ssh_config applied, so that mount_sshfs connects the same way and never
// to an ssh_config alias; and jump, the jump hosts' names ("" for none).
func (t Target) SetParams(p map[string]string) {
	host, port, _ := net.SplitHostPort(t.Addr)
	p[config.KeyAdmin] = t.User
	p[config.KeyIP] = host
	p[config.KeyPort] = port
	p[config.KeyIdentity] = t.Identity
	p[config.KeyKnownHosts] = t.KnownHosts
	var names []string
	for _, h := range t.Jumps {
		names = append(names, h.Name)
	}
	p[config.KeyJump] = strings.Join(names, ",")
}

// resolver resolves one node's Target.
type resolver struct {
	n   *config.Node
	dir string
	sc  *sshConfig
	t   Target
	// idFromFile: the node's key is the deploy file's identity (or
	// op_key's), which its jump hosts use too.
	idFromFile bool
}

// fromFile reports whether the operator set key: in the deploy file
// ([defaults], a group or the node) or with -p, as opposed to conc's
// built-in default.
func (r *resolver) fromFile(key string) bool {
	p, ok := r.n.Params[key]
	return ok && (p.Pos.Line > 0 || p.Pos.File == config.OverrideSource)
}

// lookup is the ssh_config value of keyword for alias; a found value is
// noted in Settings under key.
func (r *resolver) lookup(alias, keyword, key string) (found, bool) {
	f, ok := r.sc.get(alias, keyword)
	if ok {
		where := f.where
		if !strings.HasPrefix(key, "ssh_config ") && !strings.HasPrefix(key, "jump ") {
			where += " (" + keyword + ")"
		}
		r.t.Settings = append(r.t.Settings, Setting{Key: key, Value: f.value, Where: where})
	}
	return f, ok
}

func (r *resolver) node() error {
	n, t := r.n, &r.t
	if r.sc != nil {
		t.Settings = append(t.Settings, r.sc.setting)
	} else if _, set := n.Params[config.KeySSHConfig]; !set {
		t.Settings = append(t.Settings, Setting{Key: config.KeySSHConfig, Value: "none", Where: "built-in default (" + defaultSSHConfig + " does not exist)"})
	}
	alias := n.Get(config.KeyIP)
	if strings.HasPrefix(alias, "[") && strings.HasSuffix(alias, "]") {
		alias = alias[1 : len(alias)-1] // an IPv6 address, as config accepts it
	}
	host, err := r.hostName(alias, "ssh_config HostName")
	if err != nil {
		return err
	}
	port := n.Get(config.KeyPort)
	if f, ok := r.lookupUnless(config.KeyPort, alias, "Port"); ok {
		if port = f.value; checkPort(port) != nil {
			return f.errorf("Port %q for %s is not a number from 1 to 65535", clip(port), alias)
		}
	}
	t.User = n.Get(config.KeyAdmin)
	if f, ok := r.lookupUnless(config.KeyAdmin, alias, "User"); ok {
		if err := checkUser(f.value); err != nil {
			return f.errorf("User for %s: %v", alias, err)
		}
		t.User = f.value
	} else if t.User == "" {
		t.User = n.Admin()
	}
	tk := tokens{alias: alias, host: host, port: port, user: t.User}
	if err := r.files(tk); err != nil {
		return err
	}
	if f, ok := r.lookup(alias, "ConnectTimeout", "ssh_config ConnectTimeout"); ok {
		s, err := strconv.Atoi(f.value)
		if err != nil || s < 1 {
			return f.errorf("ConnectTimeout %q for %s is not a number of seconds", clip(f.value), alias)
		}
		t.ConnectTimeout = time.Duration(s) * time.Second
	}
	t.Addr = net.JoinHostPort(host, port)
	return r.jumps(alias)
}

// lookupUnless looks keyword up for alias unless the deploy file set key,
// which wins over ssh_config.
func (r *resolver) lookupUnless(key, alias, keyword string) (found, bool) {
	if r.deploySets(key) {
		return found{}, false
	}
	return r.lookup(alias, keyword, key)
}

// deploySets reports whether the deploy file's key (admin, sshd.port,
// known_hosts) wins over ssh_config's keyword.
func (r *resolver) deploySets(key string) bool {
	return r.fromFile(key) || (key == config.KeyAdmin && r.n.Get(key) != "")
}

// hostName is ssh_config's HostName for alias, %h and %% expanded, or
// alias itself.
func (r *resolver) hostName(alias, key string) (string, error) {
	f, ok := r.lookup(alias, "HostName", key)
	if !ok {
		return alias, nil
	}
	h, err := tokens{alias: alias, host: alias}.expand(f, "HostName")
	if err != nil {
		return "", err
	}
	if !validHost(h) {
		return "", f.errorf("HostName %q for %s is not an IP address or a host name", clip(h), alias)
	}
	return h, nil
}

// files resolves the node's known_hosts and identity.
func (r *resolver) files(tk tokens) error {
	n, t := r.n, &r.t
	var err error
	if f, ok := r.lookupUnless(config.KeyKnownHosts, tk.alias, "UserKnownHostsFile"); ok {
		t.KnownHosts, err = knownHostsFile(tk, f)
	} else {
		t.KnownHosts, err = config.LocalPath(n.Get(config.KeyKnownHosts), r.dir)
	}
	if err != nil {
		return err
	}
	id := n.Get(config.KeyIdentity)
	if id == "" && n.Get(config.KeyOpKey) != "" {
		id = "~/.ssh/id_rsa-" + n.Get(config.KeyOpKey)
	}
	if id != "" {
		r.idFromFile = true
		t.Identity, err = config.LocalPath(id, r.dir)
		return err
	}
	t.Identity, t.WithAgent, err = r.identity(tk, config.KeyIdentity, "ssh_config IdentitiesOnly")
	return err
}

// CheckIdentity refuses, as a deploy-file error at the param that named
// it, an identity (or op_key's key) that cannot be read: before any
// connection, not as a job's ERROR once the plan has begun. A key that
// ssh_config names is left to the login, as ssh does.
func (t Target) CheckIdentity(n *config.Node) error {
	from, ok := n.Params[config.KeyIdentity]
	if !ok || from.Value == "" {
		from = n.Params[config.KeyOpKey]
	}
	if t.Identity == "" || from.Value == "" {
		return nil
	}
	f, err := os.Open(t.Identity)
	if err != nil {
		return &config.Error{Pos: from.Pos, Msg: fmt.Sprintf("the identity %s cannot be read: %v; name a private key file (or leave identity and op_key unset to use ssh-agent and ~/.ssh's keys)", t.Identity, errors.Unwrap(err))}
	}
	return f.Close()
}

func knownHostsFile(tk tokens, f found) (string, error) {
	if strings.EqualFold(strings.TrimSpace(f.value), "none") {
		return "", f.errorf("UserKnownHostsFile none for %s: conc checks every host key; name a file, or set known_hosts in the deploy file", tk.alias)
	}
	return tk.path(f, "UserKnownHostsFile")
}

// identity is ssh_config's IdentityFile for tk.alias (the first one), and
// whether ssh-agent's keys are offered too (no IdentitiesOnly yes).
func (r *resolver) identity(tk tokens, key, onlyKey string) (string, bool, error) {
	f, ok := r.lookup(tk.alias, "IdentityFile", key)
	if !ok || strings.EqualFold(strings.TrimSpace(f.value), "none") {
		return "", false, nil
	}
	p, err := tk.path(f, "IdentityFile")
	if err != nil {
		return "", false, err
	}
	only, ok := r.lookup(tk.alias, "IdentitiesOnly", onlyKey)
	return p, !ok || !strings.EqualFold(only.value, "yes"), nil
}

// jumps resolves the jump hosts: the deploy file's jump =, else
// ssh_config's ProxyJump for alias; "none" in either means none.
func (r *resolver) jumps(alias string) error {
	var specs []hopSpec
	if p, ok := r.n.Params[config.KeyJump]; ok && p.Value != "" {
		if p.Value == "none" {
			return nil
		}
		var err error
		if specs, err = parseJumps(p.Value); err != nil {
			return &config.Error{Pos: p.Pos, Msg: fmt.Sprintf("node %s: %s = %q", r.n.Name, config.KeyJump, clip(p.Value)), Err: err}
		}
	} else if f, ok := r.lookup(alias, "ProxyJump", config.KeyJump); ok {
		if strings.EqualFold(f.value, "none") {
			return nil
		}
		var err error
		if specs, err = parseJumps(f.value); err != nil {
			return f.errorf("ProxyJump %q for %s: %v", clip(f.value), alias, err)
		}
	}
	for _, s := range specs {
		h, err := r.hop(s)
		if err != nil {
			return err
		}
		r.t.Jumps = append(r.t.Jumps, h)
	}
	return nil
}

// hop resolves a jump host: its address is its HostName in ssh_config;
// its port the hop's own :port, else its ssh_config Port, else 22; its
// user the hop's own user@, else the deploy file's admin, else its
// ssh_config User, else the node's; its key and known_hosts the deploy
// file's identity (or op_key's) and known_hosts, else its ssh_config
// IdentityFile (with IdentitiesOnly) and UserKnownHostsFile, else the
// node's. The deploy file comes first, as for the node. A hop's own
// ProxyJump is not read: list every hop, in order.
func (r *resolver) hop(s hopSpec) (Target, error) {
	h := Target{Name: s.raw}
	key := "jump " + s.raw + " "
	host, err := r.hostName(s.host, key+"HostName")
	if err != nil {
		return h, err
	}
	port := s.port
	if port == "" {
		port = "22"
		if f, ok := r.lookup(s.host, "Port", key+"Port"); ok {
			if port = f.value; checkPort(port) != nil {
				return h, f.errorf("Port %q for %s is not a number from 1 to 65535", clip(port), s.host)
			}
		}
	}
	h.User = s.user
	if h.User == "" {
		h.User = r.t.User
		if !r.deploySets(config.KeyAdmin) {
			if f, ok := r.lookup(s.host, "User", key+"User"); ok {
				if err := checkUser(f.value); err != nil {
					return h, f.errorf("User for %s: %v", s.host, err)
				}
				h.User = f.value
			}
		}
	}
	tk := tokens{alias: s.host, host: host, port: port, user: h.User}
	h.KnownHosts = r.t.KnownHosts
	if !r.deploySets(config.KeyKnownHosts) {
		if f, ok := r.lookup(s.host, "UserKnownHostsFile", key+"UserKnownHostsFile"); ok {
			if h.KnownHosts, err = knownHostsFile(tk, f); err != nil {
				return h, err
			}
		}
	}
	if !r.idFromFile {
		if h.Identity, h.WithAgent, err = r.identity(tk, key+"IdentityFile", key+"IdentitiesOnly"); err != nil {
			return h, err
		}
	}
	if h.Identity == "" {
		h.Identity, h.WithAgent = r.t.Identity, r.t.WithAgent
	}
	h.Addr = net.JoinHostPort(host, port)
	return h, nil
}
