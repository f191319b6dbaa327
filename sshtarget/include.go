package sshtarget

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/concdeploy/conc/config"
	"github.com/kevinburke/ssh_config"
)

// What conc reads of an OpenSSH client config, its Includes' files
// included: at most maxSSHConfig bytes and maxSSHConfigFiles files in all
// (a file included twice counts twice), and Includes nested at most
// maxIncludeDepth deep, as OpenSSH allows. Nobody writes more by hand.
const (
	maxSSHConfig      = 4 << 20
	maxSSHConfigFiles = 256
	maxIncludeDepth   = 16
)

// sshFile is one file of an OpenSSH client config, parsed without its
// Include lines, and the files each Include line names, read by conc.
type sshFile struct {
	path     string
	cfg      *ssh_config.Config
	includes map[int][]*sshFile // by the Include's line
}

// get returns the value of keyword for alias as ssh reads it: from the
// first Host or Match block that matches alias and sets it, in file order,
// an Include's files read where the Include stands.
func (f *sshFile) get(alias, keyword string) (found, bool) {
	for _, h := range f.cfg.Hosts {
		if !h.Matches(alias) {
			continue
		}
		for _, node := range h.Nodes {
			pos := config.Pos{File: f.path, Line: node.Pos().Line}
			switch t := node.(type) {
			case *ssh_config.KV:
				if strings.EqualFold(t.Key, keyword) {
					return found{value: t.Value, where: pos.String(), pos: pos}, true
				}
			case *ssh_config.Empty:
				for _, inc := range f.includes[pos.Line] {
					if v, ok := inc.get(alias, keyword); ok {
						return v, true
					}
				}
			}
		}
	}
	return found{}, false
}

// fileError is an error in an ssh_config file, at pos; parse tells a
// parser's error from one reading the file or an Include.
type fileError struct {
	pos   config.Pos
	parse bool
	err   error
}

func (e *fileError) Error() string { return e.pos.String() + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// stamp identifies a file's version, for the cache.
type stamp struct {
	path string
	info fs.FileInfo
}

func (s stamp) current() bool {
	fi, err := os.Stat(s.path)
	return err == nil && os.SameFile(fi, s.info) && fi.ModTime().Equal(s.info.ModTime()) && fi.Size() == s.info.Size()
}

// loader reads a config and, itself, the files its Includes name, so that
// the parser never reads a file: only regular files, within the budget.
type loader struct {
	home   string // "" when there is none
	system bool   // a relative Include is relative to /etc/ssh, not ~/.ssh
	bytes  int
	stamps []stamp
}

type cacheKey struct{ path, home string }

type cached struct {
	root   *sshFile
	stamps []stamp
}

// cache holds the configs read in this process: a run resolves every
// node's connection, and hostkeys each round's, against the same file.
var cache = struct {
	sync.Mutex
	m map[cacheKey]cached
}{m: map[cacheKey]cached{}}

// loadSSHConfig reads the config at path (absolute) and its Includes, or
// returns it from the cache when none of the files changed. An error
// reading path itself is returned as it is; one in a file, or at an
// Include, is a *fileError.
func loadSSHConfig(path string) (*sshFile, error) {
	home, _ := os.UserHomeDir()
	key := cacheKey{path, home}
	cache.Lock()
	defer cache.Unlock()
	if c, ok := cache.m[key]; ok {
		fresh := true
		for _, s := range c.stamps {
			if !s.current() {
				fresh = false
				break
			}
		}
		if fresh {
			return c.root, nil
		}
		delete(cache.m, key)
	}
	l := &loader{home: home, system: strings.HasPrefix(filepath.Clean(path)+"/", "/etc/ssh/")}
	root, err := l.load(path, 0, config.Pos{})
	if err != nil {
		return nil, err
	}
	cache.m[key] = cached{root: root, stamps: l.stamps}
	return root, nil
}

// load reads and parses the file at path, depth Includes deep, included
// at from (none for the top file), and the files its Includes name.
func (l *loader) load(path string, depth int, from config.Pos) (*sshFile, error) {
	atInclude := func(err error) error {
		if from.File == "" {
			return err
		}
		return &fileError{pos: from, err: err}
	}
	if len(l.stamps) == maxSSHConfigFiles {
		return nil, atInclude(fmt.Errorf("%s would be file %d; conc reads at most %d files of an OpenSSH client config, Includes included", path, maxSSHConfigFiles+1, maxSSHConfigFiles))
	}
	b, st, err := readRegular(path, maxSSHConfig-l.bytes)
	if err != nil {
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			err = fmt.Errorf("%s %w", path, err)
		}
		if errors.Is(err, errTooLong) {
			err = fmt.Errorf("%w: conc reads at most %d bytes of an OpenSSH client config, Includes included", err, maxSSHConfig)
		}
		return nil, atInclude(err)
	}
	l.bytes += len(b)
	l.stamps = append(l.stamps, st)
	b, incs := cutIncludes(b)
	cfg, err := decodeSSHConfig(b)
	if err != nil {
		pos := parsePos(path, &err)
		return nil, &fileError{pos: pos, parse: true, err: err}
	}
	if line := parsedInclude(cfg); line > 0 {
		return nil, &fileError{pos: config.Pos{File: path, Line: line}, parse: true, err: errors.New("an Include conc did not see; write it on a line of its own")}
	}
	f := &sshFile{path: path, cfg: cfg, includes: map[int][]*sshFile{}}
	for _, inc := range incs {
		at := config.Pos{File: path, Line: inc.line}
		if len(inc.args) == 0 {
			return nil, &fileError{pos: at, err: errors.New("this Include names no file")}
		}
		if depth+1 > maxIncludeDepth {
			return nil, &fileError{pos: at, err: fmt.Errorf("this Include (%s) nests Includes more than %d deep (does a file include itself?)", clip(strings.Join(inc.args, " ")), maxIncludeDepth)}
		}
		var matches []string
		seen := map[string]bool{}
		for _, a := range inc.args {
			pattern, err := l.includePath(a)
			if err != nil {
				return nil, &fileError{pos: at, err: fmt.Errorf("this Include's %s: %v", clip(a), err)}
			}
			m, err := filepath.Glob(pattern)
			if err != nil {
				return nil, &fileError{pos: at, err: fmt.Errorf("this Include's %s: %v", clip(a), err)}
			}
			for _, p := range m {
				if !seen[p] {
					seen[p] = true
					matches = append(matches, p)
				}
			}
		}
		for _, p := range matches {
			sub, err := l.load(p, depth+1, at)
			if err != nil {
				return nil, err
			}
			f.includes[inc.line] = append(f.includes[inc.line], sub)
		}
	}
	return f, nil
}

// includePath is where an Include's argument points, as OpenSSH reads it:
// ~/ is the home directory, and a relative path is relative to ~/.ssh, or
// to /etc/ssh in the system's config.
func (l *loader) includePath(a string) (string, error) {
	switch {
	case filepath.IsAbs(a):
		return a, nil
	case l.system && !strings.HasPrefix(a, "~/"):
		return filepath.Join("/etc/ssh", a), nil
	case l.home == "":
		return "", errors.New("no home directory to find it in")
	case strings.HasPrefix(a, "~/"):
		return filepath.Join(l.home, a[2:]), nil
	}
	return filepath.Join(l.home, ".ssh", a), nil
}

var errTooLong = errors.New("is too long")

// readRegular reads the regular file at path, at most limit bytes, never
// blocking on a FIFO or reading a device.
func readRegular(path string, limit int) ([]byte, stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, stamp{}, err
	}
	if err := regular(fi); err != nil {
		return nil, stamp{}, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, stamp{}, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, stamp{}, err
	}
	if err := regular(fi); err != nil {
		return nil, stamp{}, err
	}
	if limit < 0 {
		limit = 0
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, stamp{}, err
	}
	if len(b) > limit {
		return nil, stamp{}, errTooLong
	}
	return b, stamp{path: path, info: fi}, nil
}

func regular(fi fs.FileInfo) error {
	var what string
	switch m := fi.Mode(); {
	case m.IsRegular():
		return nil
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeDevice != 0 || m&fs.ModeCharDevice != 0:
		what = "a device"
	case m.IsDir():
		what = "a directory"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	default:
		return errors.New("is not a regular file; conc reads only regular files")
	}
	return fmt.Errorf("is %s, not a regular file; conc reads only regular files", what)
}

// include is an Include line: its line and its arguments.
type include struct {
	line int
	args []string
}

// cutIncludes returns b with every Include line made a bare comment, so
// that the parser reads no file, and the Includes. A line is an Include as
// the parser sees it: its first word, up to a space, a tab or '=', after
// spaces, tabs and carriage returns, is "Include" in any case.
func cutIncludes(b []byte) ([]byte, []include) {
	var out []byte
	var incs []include
	for i, line := range strings.SplitAfter(string(b), "\n") {
		rest := strings.TrimLeft(line, " \t\r")
		end := strings.IndexAny(rest, " \t=\r\n")
		if end < 0 {
			end = len(rest)
		}
		if !strings.EqualFold(rest[:end], "include") {
			out = append(out, line...)
			continue
		}
		incs = append(incs, include{line: i + 1, args: includeArgs(rest[end:])})
		out = append(out, '#')
		if strings.HasSuffix(line, "\n") {
			out = append(out, '\n')
		}
	}
	return out, incs
}

// includeArgs splits what follows Include: an optional '=', then
// arguments separated by spaces, a double-quoted one may hold spaces, up
// to a '#' comment.
func includeArgs(s string) []string {
	s = strings.TrimLeft(s, " \t")
	s = strings.TrimPrefix(s, "=")
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	var args []string
	var cur strings.Builder
	in, has := false, false
	for _, r := range s {
		switch {
		case r == '"':
			in, has = !in, true
		case !in && (r == ' ' || r == '\t' || r == '\r' || r == '\n'):
			if has {
				args = append(args, cur.String())
			}
			cur.Reset()
			has = false
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if has {
		args = append(args, cur.String())
	}
	return args
}

// parsedInclude is the line of an Include the parser read, which
// cutIncludes should have cut; 0 when none.
func parsedInclude(cfg *ssh_config.Config) int {
	for _, h := range cfg.Hosts {
		for _, n := range h.Nodes {
			if _, ok := n.(*ssh_config.Include); ok {
				return n.Pos().Line
			}
		}
	}
	return 0
}
