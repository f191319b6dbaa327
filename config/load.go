// Package config reads the deploy file: every node's params and every plan,
// as data. It resolves params (defaults < group < node), substitutes
// ${key}, and checks plans against the op registry, so that every mistake
// is reported with its file and line before any connection is made.
package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strings"
)

// Section kinds.
const (
	kindDefaults = "defaults"
	kindNode     = "node"
	kindGroup    = "group"
	kindPlan     = "plan"
	kindTest     = "test"
)

// maxLine bounds one line of a deploy file. Nobody writes a longer one by
// hand; refusing it keeps a stray binary or generated file from becoming one
// huge value, and says where.
const maxLine = 1 << 20

// Param is one key's value and where it was set.
type Param struct {
	Value string
	Pos   Pos
}

// section is one [kind name] section of one file.
type section struct {
	kind, name string
	pos        Pos
	keys       []string           // in file order, without repeats
	values     map[string][]Param // repeated keys keep every value; every key has one
}

func (s *section) label() string {
	if s.name == "" {
		return "[" + s.kind + "]"
	}
	return "[" + s.kind + " " + s.name + "]"
}

// one returns the single value of key, or an error if it was set twice.
func (s *section) one(key string) (Param, bool, error) {
	v := s.values[key]
	switch len(v) {
	case 0:
		return Param{}, false, nil
	case 1:
		return v[0], true, nil
	}
	return Param{}, false, errorf(v[1].Pos, "%s is set twice in %s (first at line %d); keep one", key, s.label(), v[0].Pos.Line)
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	keyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// parseFile reads one deploy file into its sections.
func parseFile(path string) ([]*section, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{Pos: Pos{File: path}, Msg: "no deploy file here (write one, or name it with -f FILE)", Err: err}
		}
		return nil, &Error{Pos: Pos{File: path}, Msg: "read the deploy file", Err: err}
	}
	return parse(path, data)
}

// parse reads a deploy file's text. conc reads its INI dialect itself, one
// line at a time, so that every section, key and value carries the line it
// came from, every mistake is reported at its line, and the work is linear
// in the file's size whatever the file holds.
func parse(path string, data []byte) ([]*section, error) {
	p := &parser{seen: map[string]int{}}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		pos := Pos{path, n}
		if len(line) > maxLine {
			return nil, errorf(pos, "line longer than %d bytes (1 MiB); keep large data in a file of its own and name that file here", maxLine)
		}
		if err := p.line(pos, string(line)); err != nil {
			return nil, err
		}
	}
	return p.out, nil
}

// parser holds what parse has read so far.
type parser struct {
	out  []*section
	cur  *section
	seen map[string]int // section header -> its line
}

func (p *parser) line(pos Pos, raw string) error {
	line := strings.TrimSpace(raw)
	switch {
	case line == "", line[0] == ';', line[0] == '#':
		return nil
	case line[0] == '[':
		return p.header(pos, line)
	}
	key, val, ok := strings.Cut(line, "=")
	if !ok {
		return errorf(pos, "a line reads KEY = VALUE; got %q", clip(line))
	}
	return p.keyLine(pos, strings.TrimSpace(key), val)
}

func (p *parser) header(pos Pos, line string) error {
	end := strings.LastIndexByte(line, ']')
	if end < 0 {
		return errorf(pos, "section header without ']': write [KIND NAME]")
	}
	fields := strings.Fields(line[1:end])
	header := strings.Join(fields, " ")
	if prev, dup := p.seen[header]; dup {
		return errorf(pos, "section [%s] appears twice (first at line %d); merge them", clip(header), prev)
	}
	p.seen[header] = pos.Line
	s, err := newSection(pos, fields)
	if err != nil {
		return err
	}
	p.cur = s
	p.out = append(p.out, s)
	return nil
}

func newSection(pos Pos, fields []string) (*section, error) {
	if len(fields) == 0 {
		return nil, errorf(pos, "empty section header []: sections are [defaults], [node NAME], [group NAME], [plan NAME] and [test NAME]")
	}
	s := &section{kind: fields[0], pos: pos, values: map[string][]Param{}}
	switch s.kind {
	case kindDefaults:
		if len(fields) != 1 {
			return nil, errorf(pos, "[defaults] takes no name")
		}
	case kindNode, kindGroup, kindPlan, kindTest:
		if len(fields) != 2 || !nameRE.MatchString(fields[1]) {
			return nil, errorf(pos, "a section header reads [%s NAME], NAME of letters, digits, '.', '_' and '-'", s.kind)
		}
		s.name = fields[1]
	default:
		return nil, errorf(pos, "unknown section [%s]: sections are [defaults], [node NAME], [group NAME], [plan NAME] and [test NAME]", clip(strings.Join(fields, " ")))
	}
	return s, nil
}

func (p *parser) keyLine(pos Pos, key, raw string) error {
	if p.cur == nil {
		return errorf(pos, "%s is outside any section; put it under [defaults] or a [node NAME]", clip(key))
	}
	if !keyRE.MatchString(key) {
		return errorf(pos, "bad key %q: a key is letters, digits, '_', '.' and '-', starting with a letter or '_'", clip(key))
	}
	s := p.cur
	if _, had := s.values[key]; !had {
		s.keys = append(s.keys, key)
	}
	s.values[key] = append(s.values[key], Param{Value: value(raw), Pos: pos})
	return nil
}

// value reads what follows '=': spaces at both ends dropped, a comment
// that starts with " ;" or " #" cut off, and one pair of quotes around the
// whole value taken away. A value never continues on the next line.
func value(raw string) string {
	v := strings.TrimSpace(raw)
	if i := commentStart(v); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	for _, q := range []byte{'"', '\'', '`'} {
		if len(v) >= 2 && v[0] == q && strings.IndexByte(v[1:], q) == len(v)-2 {
			return v[1 : len(v)-1]
		}
	}
	return v
}

// commentStart is where an inline comment starts in v, or -1.
func commentStart(v string) int {
	i, j := strings.Index(v, " ;"), strings.Index(v, " #")
	if i < 0 || (j >= 0 && j < i) {
		return j
	}
	return i
}

// clip shortens text quoted in an error message: a line may be 1 MiB long.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
