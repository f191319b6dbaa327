package config

import (
	"fmt"
	"net"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/concdeploy/conc/bundle"
	"github.com/concdeploy/conc/internal/bytesize"
)

// Known param keys; builtinParams lists every param conc reads. Any other
// key is the operator's own, for ${key} and templates, and must be used
// or start with OwnPrefix (package paramuse checks).
const (
	KeyAdmin      = "admin"
	KeyIP         = "sshd.ip"
	KeyPort       = "sshd.port"
	KeyIdentity   = "identity"
	KeyOpKey      = "op_key"
	KeyKnownHosts = "known_hosts"
	KeyBundle     = "bundle"
	KeyTimeout    = "timeout"
	KeyLocal      = "local_bundle"
	KeyName       = "name" // set by conc: the node's name
	// KeySSHConfig names an OpenSSH client config file whose Host entries
	// the node's sshd.ip may name; "none" reads none. Read by sshconn, so
	// that the agent, which links this package, does not link a parser.
	KeySSHConfig = "ssh_config"
	// KeyJump lists jump hosts, [user@]host[:port] or ssh_config aliases,
	// separated by commas; "none" overrides ssh_config's ProxyJump.
	KeyJump = "jump"
)

// builtin are the defaults every node starts from.
var builtin = map[string]string{
	KeyPort:       "22",
	KeyKnownHosts: "~/.ssh/known_hosts",
	KeyBundle:     ".conc-bundle",
	KeyLocal:      "~/.conc/bundles/${name}",
	KeyStoreLimit: "1G",
}

// File is a loaded deploy file, or several layered ones: a later file's
// values replace an earlier one's, key by key, and its plans replace plans
// of the same name whole.
type File struct {
	Paths    []string
	Dir      string // the first file's directory: where local jobs run
	defaults map[string]Param
	nodes    map[string]*section
	groups   map[string]*section
	plans    map[string]*section
	tests    map[string]*section
	order    map[string][]string // kind -> names in file order
	// overrides are -p KEY=VALUE: for this run, above every section.
	overrides map[string]string
}

// Load reads the deploy files in order.
func Load(paths ...string) (*File, error) {
	if len(paths) == 0 {
		paths = []string{"conc.ini"}
	}
	f := &File{
		Paths: paths, defaults: map[string]Param{},
		nodes: map[string]*section{}, groups: map[string]*section{},
		plans: map[string]*section{}, tests: map[string]*section{},
		order: map[string][]string{},
	}
	dir, err := filepath.Abs(filepath.Dir(paths[0]))
	if err != nil {
		return nil, fmt.Errorf("locate %s: %w", paths[0], err)
	}
	f.Dir = dir
	for _, p := range paths {
		secs, err := parseFile(p)
		if err != nil {
			return nil, err
		}
		if err := f.merge(secs); err != nil {
			return nil, err
		}
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) merge(secs []*section) error {
	for _, s := range secs {
		switch s.kind {
		case kindDefaults:
			for _, k := range s.keys {
				p, _, err := s.one(k)
				if err != nil {
					return err
				}
				f.defaults[k] = p
			}
		case kindNode:
			f.mergeInto(f.nodes, s)
		case kindGroup:
			f.mergeInto(f.groups, s)
		case kindPlan:
			f.replace(f.plans, s)
		case kindTest:
			f.replace(f.tests, s)
		}
	}
	return nil
}

func (f *File) mergeInto(m map[string]*section, s *section) {
	old, ok := m[s.name]
	if !ok {
		m[s.name] = s
		f.order[s.kind] = append(f.order[s.kind], s.name)
		return
	}
	for _, k := range s.keys {
		if _, had := old.values[k]; !had {
			old.keys = append(old.keys, k)
		}
		old.values[k] = s.values[k]
	}
}

func (f *File) replace(m map[string]*section, s *section) {
	if _, ok := m[s.name]; !ok {
		f.order[s.kind] = append(f.order[s.kind], s.name)
	}
	m[s.name] = s
}

// check validates what does not depend on a node: groups name real nodes,
// plans have steps. That every param is read or used is paramuse's to
// check: it reads template files, which the agent never needs.
func (f *File) check() error {
	for _, name := range f.order[kindGroup] {
		if err := f.checkGroup(name); err != nil {
			return err
		}
	}
	for _, name := range f.order[kindPlan] {
		if err := checkPlan(f.plans[name]); err != nil {
			return err
		}
	}
	return nil
}

func (f *File) checkGroup(name string) error {
	g := f.groups[name]
	p, ok, err := g.one("nodes")
	if err != nil {
		return err
	}
	if !ok {
		return errorf(g.pos, "[group %s] needs nodes = NODE...", name)
	}
	if len(strings.Fields(p.Value)) == 0 {
		return errorf(p.Pos, "[group %s] has an empty nodes =; name its nodes, separated by spaces", name)
	}
	for _, n := range strings.Fields(p.Value) {
		if _, ok := f.nodes[n]; !ok {
			return errorf(p.Pos, "group %s names node %q, which has no [node %s] section", name, clip(n), clip(n))
		}
	}
	if _, clash := f.nodes[name]; clash {
		return errorf(g.pos, "%q is both a node and a group; rename one", name)
	}
	return nil
}

func checkPlan(pl *section) error {
	for _, k := range pl.keys {
		if k != "step" {
			return errorf(pl.values[k][0].Pos, "[plan %s] holds only step = lines; got %s", pl.name, k)
		}
	}
	steps := pl.values["step"]
	if len(steps) == 0 {
		return errorf(pl.pos, "[plan %s] has no steps", pl.name)
	}
	for _, st := range steps {
		if st.Value == "" {
			return errorf(st.Pos, "[plan %s] has an empty step; write step = HOST OP [ARG ...] or remove the line", pl.name)
		}
	}
	return nil
}

// NodeNames returns the nodes in file order.
func (f *File) NodeNames() []string { return append([]string(nil), f.order[kindNode]...) }

// PlanNames returns the plans in file order.
func (f *File) PlanNames() []string { return append([]string(nil), f.order[kindPlan]...) }

// GroupNames returns the groups in file order.
func (f *File) GroupNames() []string { return append([]string(nil), f.order[kindGroup]...) }

// Targets expands node and group names into nodes, each once, in the order
// given.
func (f *File) Targets(names []string) ([]*Node, error) {
	var out []*Node
	seen := map[string]bool{}
	for _, name := range names {
		members := []string{name}
		if g, ok := f.groups[name]; ok {
			p, _, _ := g.one("nodes")
			members = strings.Fields(p.Value)
		} else if _, ok := f.nodes[name]; !ok {
			return nil, f.unknownNode(name)
		}
		for _, m := range members {
			if seen[m] {
				continue
			}
			seen[m] = true
			n, err := f.Node(m)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *File) unknownNode(name string) error {
	known := append(f.NodeNames(), f.order[kindGroup]...)
	sort.Strings(known)
	hint := "it has no nodes"
	if len(known) > 0 {
		hint = "known: " + strings.Join(known, ", ")
	}
	return errorf(Pos{File: f.Paths[0]}, "no node or group %q (%s)", name, hint)
}

// Node resolves a node's params: built-in defaults < [defaults] < its
// groups, in file order < [node NAME]; then substitutes ${key}.
func (f *File) Node(name string) (*Node, error) {
	s, ok := f.nodes[name]
	if g, isGroup := f.groups[name]; !ok && isGroup {
		p, _, _ := g.one("nodes")
		return nil, errorf(g.pos, "%s is a group; this takes one node: one of %s", name, strings.Join(strings.Fields(p.Value), ", "))
	}
	if !ok {
		return nil, f.unknownNode(name)
	}
	raw := map[string]Param{}
	for k, v := range builtin {
		raw[k] = Param{Value: v, Pos: Pos{File: "built-in default"}}
	}
	for k, v := range f.defaults {
		raw[k] = v
	}
	var groups []string
	setBy := map[string]string{}
	for _, gname := range f.order[kindGroup] {
		g := f.groups[gname]
		p, _, _ := g.one("nodes")
		if !contains(strings.Fields(p.Value), name) {
			continue
		}
		groups = append(groups, gname)
		for _, k := range g.keys {
			if k == "nodes" {
				continue
			}
			v, _, err := g.one(k)
			if err != nil {
				return nil, err
			}
			if other, ok := setBy[k]; ok && raw[k].Value != v.Value {
				return nil, errorf(v.Pos, "node %s is in groups %s and %s, which set %s differently (%s); set it in [node %s]", name, other, gname, k, raw[k].Pos, name)
			}
			setBy[k] = gname
			raw[k] = v
		}
	}
	for _, k := range s.keys {
		v, _, err := s.one(k)
		if err != nil {
			return nil, err
		}
		raw[k] = v
	}
	for k, v := range f.overrides {
		raw[k] = Param{Value: v, Pos: Pos{File: OverrideSource}}
	}
	raw[KeyName] = Param{Value: name, Pos: s.pos}
	params, err := substituteAll(raw, name)
	if err != nil {
		return nil, err
	}
	n := &Node{Name: name, Groups: groups, Params: params, Pos: s.pos}
	return n, n.check(f.Dir)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Node is a node with its resolved params.
type Node struct {
	Name   string
	Groups []string
	Params map[string]Param
	Pos    Pos
}

// Get returns a param's value, "" when unset.
func (n *Node) Get(key string) string { return n.Params[key].Value }

// Values returns the params as a plain map, for ops and templates.
func (n *Node) Values() map[string]string {
	m := make(map[string]string, len(n.Params))
	for k, p := range n.Params {
		m[k] = p.Value
	}
	return m
}

// Addr is host:port for dialing.
func (n *Node) Addr() string {
	return net.JoinHostPort(strings.Trim(n.Get(KeyIP), "[]"), n.Get(KeyPort))
}

// Admin is the SSH user: the admin param, else the local user's name.
func (n *Node) Admin() string {
	if a := n.Get(KeyAdmin); a != "" {
		return a
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// Timeout is the default step timeout, 0 for none.
func (n *Node) Timeout() time.Duration {
	d, _ := time.ParseDuration(n.Get(KeyTimeout))
	return d
}

// check validates the params conc itself uses. dir is the deploy file's
// directory, which relative local paths are joined to.
func (n *Node) check(dir string) error {
	if n.Get(KeyIP) == "" {
		return errorf(n.Pos, "node %s has no %s: set the address it is reached at", n.Name, KeyIP)
	}
	if p, err := strconv.Atoi(n.Get(KeyPort)); err != nil || p < 1 || p > 65535 {
		return errorf(n.Params[KeyPort].Pos, "node %s: %s = %q is not a port number from 1 to 65535", n.Name, KeyPort, clip(n.Get(KeyPort)))
	}
	if err := bundle.CheckName(n.Get(KeyBundle)); err != nil {
		return &Error{Pos: n.Params[KeyBundle].Pos, Msg: "node " + n.Name, Err: err}
	}
	if t := n.Get(KeyTimeout); t != "" {
		if d, err := time.ParseDuration(t); err != nil || d < 0 {
			return errorf(n.Params[KeyTimeout].Pos, "node %s: timeout = %q is not a duration such as 90s or 5m", n.Name, clip(t))
		}
	}
	if _, err := n.StoreLimit(); err != nil {
		return errorf(n.Params[KeyStoreLimit].Pos, "node %s: %s = %q is not a size such as 500M or 1G (0 turns the store off)", n.Name, KeyStoreLimit, clip(n.Get(KeyStoreLimit)))
	}
	return n.checkCommandLine(dir)
}

// StoreLimit is the size the node's store of bundle files keeps to: the
// store_limit param (1G unless set), 0 for no store.
func (n *Node) StoreLimit() (int64, error) { return bytesize.Parse(n.Get(KeyStoreLimit)) }

// secretWords mark params whose values conc config must not print.
var secretWords = []string{"password", "passwd", "secret", "token", "passphrase"}

// IsSecret reports whether a param's value is kept out of output.
func IsSecret(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
