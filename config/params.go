package config

import "sort"

// KeyVenv is the virtualenv that setup_install and pip_install use when a
// step gives no --venv (jobs/nodeops.ParamVenv).
const KeyVenv = "venv"

// KeyStoreLimit is the size the node's store of bundle files keeps to
// (blobstore); 0 turns the store off.
const KeyStoreLimit = "store_limit"

// OwnPrefix starts a param the operator keeps for their own use, which
// conc does not check is used: x.release = 1.4 for a Go node test
// (t.Param("x.release")), an op of their own, or later.
const OwnPrefix = "x."

// builtinParams is every param conc itself reads by name, with what reads
// it. A key in [defaults], [group NAME] or [node NAME] that is not here,
// does not start with OwnPrefix, and is not used by a ${key}, a template
// or a [test NAME] section is an error at load time (CheckUnused), so that
// a typo such as sshd.prot is not taken for the operator's own param.
//
// An op, or any other code of conc's, that reads a param by name (through
// jobs.Env.Params(), Node.Get or Node.Params) must have it here;
// knownkeys_test.go looks for such reads in the sources.
var builtinParams = map[string]string{
	KeyAdmin:      "the SSH user (sshtarget, mount_sshfs, sudo's messages)",
	KeyIP:         "the node's address (sshtarget, mount_sshfs)",
	KeyPort:       "the SSH port (sshtarget, mount_sshfs)",
	KeyIdentity:   "the private key file (sshtarget, mount_sshfs)",
	KeyOpKey:      "~/.ssh/id_rsa-${op_key} when identity is unset (sshtarget)",
	KeyKnownHosts: "the known_hosts file (sshtarget, mount_sshfs)",
	KeyBundle:     "the bundle directory on the node (deploy, agent, mount_sshfs)",
	KeyTimeout:    "the default step timeout (config)",
	KeyLocal:      "the local twin of the bundle (deploy's local open_bundle, mount_sshfs)",
	KeyName:       "the node's name, set by conc",
	KeySSHConfig:  "the OpenSSH client config file (sshtarget)",
	KeyJump:       "the jump hosts (sshtarget, mount_sshfs)",
	KeyVenv:       "the default --venv of setup_install and pip_install (jobs/nodeops)",
	KeyStoreLimit: "the size of the node's store of bundle files (deploy, conc cache)",
}

// groupSettings are the keys of a [group NAME] section that configure the
// group rather than give its members a param.
var groupSettings = map[string]bool{"nodes": true, KeyBatch: true, KeyMaxFail: true}

// BuiltinParams returns, sorted, every param that conc itself reads.
func BuiltinParams() []string {
	out := make([]string, 0, len(builtinParams))
	for k := range builtinParams {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// IsBuiltinParam reports whether conc itself reads the param key.
func IsBuiltinParam(key string) bool {
	_, ok := builtinParams[key]
	return ok
}

// IsGroupSetting reports whether key configures a group (nodes, batch,
// max_fail) rather than being a param of its members.
func IsGroupSetting(key string) bool { return groupSettings[key] }

// DefinedParam is a param a deploy file sets, and where.
type DefinedParam struct {
	Key     string
	Section string // [defaults], [group web], [node n1]
	Pos     Pos
}

// DefinedParams returns every param set in [defaults], a [group NAME]
// (its settings aside) or a [node NAME], each time it is set.
func (f *File) DefinedParams() []DefinedParam {
	var out []DefinedParam
	for k, p := range f.defaults {
		out = append(out, DefinedParam{Key: k, Section: "[defaults]", Pos: p.Pos})
	}
	for _, m := range []map[string]*section{f.groups, f.nodes} {
		for _, s := range m {
			for _, k := range s.keys {
				for _, p := range s.values[k] {
					if s.kind != kindGroup || !groupSettings[k] {
						out = append(out, DefinedParam{Key: k, Section: s.label(), Pos: p.Pos})
					}
				}
			}
		}
	}
	return out
}

// RawValues returns every value of every section as written, before
// substitution, for the ${key} references they hold.
func (f *File) RawValues() []string {
	var out []string
	for _, p := range f.defaults {
		out = append(out, p.Value)
	}
	for _, m := range []map[string]*section{f.nodes, f.groups, f.plans, f.tests} {
		for _, s := range m {
			for _, ps := range s.values {
				for _, p := range ps {
					out = append(out, p.Value)
				}
			}
		}
	}
	return out
}

// RawSteps returns the step lines of every plan as written, in file order.
func (f *File) RawSteps() []string {
	var out []string
	for _, name := range f.order[kindPlan] {
		for _, st := range f.plans[name].values["step"] {
			out = append(out, st.Value)
		}
	}
	return out
}
