package sshtarget

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/concdeploy/conc/config"
	"github.com/kevinburke/ssh_config"
)

// defaultSSHConfig is read when the deploy file names no ssh_config; a
// missing one is fine.
const defaultSSHConfig = "~/.ssh/config"

// sshConfig is a parsed OpenSSH client config file.
type sshConfig struct {
	path    string // absolute
	root    *sshFile
	setting Setting // how conc config shows the ssh_config param
}

// openSSHConfig reads the file the node's ssh_config param names, or
// ~/.ssh/config when it names none; nil when it is "none", or when the
// default file does not exist. Errors are the deploy file's, at the param,
// or the ssh_config file's, at its path.
func openSSHConfig(n *config.Node, dir string) (*sshConfig, error) {
	p, set := n.Params[config.KeySSHConfig]
	if set && p.Value == "none" {
		return nil, nil
	}
	name := defaultSSHConfig
	if set && p.Value != "" {
		name = p.Value
	}
	abs, err := config.LocalPath(name, dir)
	if err != nil {
		return nil, &config.Error{Pos: p.Pos, Msg: "node " + n.Name + ": " + config.KeySSHConfig, Err: err}
	}
	root, err := loadSSHConfig(abs)
	var fe *fileError
	switch {
	case errors.As(err, &fe):
		hint := "fix it, or set " + config.KeySSHConfig + " = none in the deploy file to not read it"
		if set {
			hint = "fix it, or name another file in " + config.KeySSHConfig + " at " + p.Pos.String()
		}
		msg := "read the OpenSSH client config (" + hint + ")"
		if fe.parse {
			msg = "parse the OpenSSH client config (" + hint + ")"
		}
		return nil, &config.Error{Pos: fe.pos, Msg: msg, Err: fe.err}
	case err != nil && !set && errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil && set:
		return nil, &config.Error{Pos: p.Pos, Msg: fmt.Sprintf("node %s: %s = %s names an OpenSSH client config conc cannot read (write none to read none)", n.Name, config.KeySSHConfig, clip(p.Value)), Err: err}
	case err != nil:
		return nil, &config.Error{Pos: config.Pos{File: abs}, Msg: "read the OpenSSH client config (set " + config.KeySSHConfig + " = none in the deploy file to not read it)", Err: err}
	}
	c := &sshConfig{path: abs, root: root}
	c.setting = Setting{Key: config.KeySSHConfig, Value: name, Where: "built-in default (the file exists)"}
	if set {
		c.setting.Where = p.Pos.String()
	}
	return c, nil
}

// decodeSSHConfig parses a config, turning the parser's panics (it has
// had some on odd input) into errors.
func decodeSSHConfig(b []byte) (cfg *ssh_config.Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("the parser failed: %v", r)
		}
	}()
	return ssh_config.DecodeBytes(b)
}

// parseErrRE is how the parser starts its errors: "(LINE, COLUMN): ".
var parseErrRE = regexp.MustCompile(`^\((\d+), \d+\): (?:ssh_config: )?`)

// parsePos is where in path the parser's error *err is; it takes the
// place off the error's text.
func parsePos(path string, err *error) config.Pos {
	m := parseErrRE.FindStringSubmatch((*err).Error())
	if m == nil {
		return config.Pos{File: path}
	}
	line, _ := strconv.Atoi(m[1])
	*err = errors.New(strings.TrimPrefix((*err).Error(), m[0]))
	return config.Pos{File: path, Line: line}
}

// found is a value of a keyword for a host, and where it was set.
type found struct {
	value string
	where string // FILE:LINE, in the file that set it, Include'd or not
	pos   config.Pos
}

// get returns the value of keyword for alias as ssh reads it: from the
// first Host or Match block that matches alias and sets it, in file order,
// Include'd files included. A nil config sets nothing.
func (c *sshConfig) get(alias, keyword string) (found, bool) {
	if c == nil {
		return found{}, false
	}
	return c.root.get(alias, keyword)
}

// errorf is an error in the ssh_config file, at the line that set f.
func (f found) errorf(format string, args ...any) error {
	return &config.Error{Pos: f.pos, Msg: fmt.Sprintf(format, args...)}
}

// tokens are the values of ssh_config's %-tokens conc expands.
type tokens struct {
	alias, host, port, user string
}

// expand replaces ssh_config's %-tokens in f's value: %% %d %h %n %p %r
// %u. Any other token is an error: conc would guess wrong.
func (tk tokens) expand(f found, keyword string) (string, error) {
	v := f.value
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 == len(v) {
			return "", f.errorf("%s %s ends in a lone %%; write %%%% for a %%", keyword, clip(v))
		}
		i++
		r, err := tk.token(v[i])
		if err != nil {
			return "", f.errorf("%s %s: %%%c: %v", keyword, clip(v), v[i], err)
		}
		b.WriteString(r)
	}
	return b.String(), nil
}

func (tk tokens) token(c byte) (string, error) {
	switch c {
	case '%':
		return "%", nil
	case 'd':
		return os.UserHomeDir()
	case 'h':
		return tk.host, nil
	case 'n':
		return tk.alias, nil
	case 'p':
		return tk.port, nil
	case 'r':
		return tk.user, nil
	case 'u':
		u, err := user.Current()
		if err != nil {
			return "", err
		}
		return u.Username, nil
	}
	return "", errors.New("conc expands only %%, %d, %h, %n, %p, %r and %u")
}

// path reads a file name keyword (IdentityFile, UserKnownHostsFile): its
// first word, tokens expanded, made absolute as ssh would (relative to the
// working directory), and checked like the deploy file's paths, since it
// reaches sshfs's -o options.
func (tk tokens) path(f found, keyword string) (string, error) {
	words := strings.Fields(f.value)
	if len(words) == 0 {
		return "", f.errorf("%s is empty", keyword)
	}
	f.value = strings.Trim(words[0], `"`)
	p, err := tk.expand(f, keyword)
	if err != nil {
		return "", err
	}
	if p, err = config.ExpandHome(p); err != nil {
		return "", f.errorf("%s %s: %v", keyword, clip(f.value), err)
	}
	if p, err = filepath.Abs(p); err != nil {
		return "", f.errorf("%s %s: %v", keyword, clip(f.value), err)
	}
	if i := strings.IndexFunc(p, badPathRune); i >= 0 {
		return "", f.errorf("%s %s holds %q, which cannot go into sshfs's -o %s=... safely; rename the file, or link to it from a path without it", keyword, clip(p), p[i], keyword)
	}
	return p, nil
}

func badPathRune(r rune) bool {
	return r < ' ' || r == 0x7f || strings.ContainsRune(",\\", r)
}

func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
