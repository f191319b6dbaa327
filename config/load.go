// Package config reads the deploy file: every node's params and every plan,
// as data. It resolves params (defaults < group < node), substitutes
// ${key}, and checks plans against the op registry, so that every mistake
// is reported with its file and line before any connection is made.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"gopkg.in/ini.v1"
)

// Section kinds.
const (
	kindDefaults = "defaults"
	kindNode     = "node"
	kindGroup    = "group"
	kindPlan     = "plan"
	kindTest     = "test"
)

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
	values     map[string][]Param // repeated keys keep every value
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
	return Param{}, false, errorf(v[1].Pos, "%s is set twice in %s (first at line %d)", key, s.label(), v[0].Pos.Line)
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
	lines, err := indexLines(path, data)
	if err != nil {
		return nil, err
	}
	f, err := ini.LoadSources(ini.LoadOptions{
		AllowShadows:               true,
		AllowDuplicateShadowValues: true,
		SpaceBeforeInlineComment:   true,
		KeyValueDelimiters:         "=",
		IgnoreContinuation:         true,
		AllowNonUniqueSections:     false,
	}, data)
	if err != nil {
		return nil, &Error{Pos: Pos{File: path}, Msg: "not a valid ini file", Err: err}
	}
	var out []*section
	for _, is := range f.Sections() {
		if is.Name() == ini.DefaultSection {
			if len(is.Keys()) > 0 {
				k := is.Keys()[0].Name()
				return nil, errorf(lines.key("", k, 0), "%s is outside any section; put it under [defaults] or a [node NAME]", k)
			}
			continue
		}
		s, err := newSection(path, is, lines)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func newSection(path string, is *ini.Section, lines *lineIndex) (*section, error) {
	header := is.Name()
	pos := lines.section(header)
	fields := strings.Fields(header)
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
		return nil, errorf(pos, "unknown section [%s]: sections are [defaults], [node NAME], [group NAME], [plan NAME] and [test NAME]", header)
	}
	for _, k := range is.Keys() {
		name := k.Name()
		if !keyRE.MatchString(name) {
			return nil, errorf(lines.key(header, name, 0), "bad key %q", name)
		}
		s.keys = append(s.keys, name)
		for i, v := range k.ValueWithShadows() {
			s.values[name] = append(s.values[name], Param{Value: v, Pos: lines.key(header, name, i)})
		}
	}
	return s, nil
}

// lineIndex maps sections and keys to their lines. ini.v1 keeps no
// positions, so the file is scanned once more, line by line, with the same
// rules for what a section header and a key line are.
type lineIndex struct {
	file     string
	sections map[string]int
	keys     map[string][]int // "section\x00key" -> lines, one per occurrence
}

func indexLines(path string, data []byte) (*lineIndex, error) {
	ix := &lineIndex{file: path, sections: map[string]int{}, keys: map[string][]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	cur := ""
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "", line[0] == ';', line[0] == '#':
		case line[0] == '[':
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, errorf(Pos{path, n}, "section header without ']'")
			}
			cur = strings.Join(strings.Fields(line[1:end]), " ")
			if prev, dup := ix.sections[cur]; dup {
				return nil, errorf(Pos{path, n}, "section [%s] appears twice (first at line %d); merge them", cur, prev)
			}
			ix.sections[cur] = n
		default:
			eq := strings.IndexByte(line, '=')
			if eq < 0 {
				return nil, errorf(Pos{path, n}, "a line reads KEY = VALUE; got %q", line)
			}
			k := cur + "\x00" + strings.TrimSpace(line[:eq])
			ix.keys[k] = append(ix.keys[k], n)
		}
	}
	return ix, sc.Err()
}

func (ix *lineIndex) section(header string) Pos {
	return Pos{ix.file, ix.sections[strings.Join(strings.Fields(header), " ")]}
}

func (ix *lineIndex) key(header, key string, i int) Pos {
	lines := ix.keys[strings.Join(strings.Fields(header), " ")+"\x00"+key]
	if i < len(lines) {
		return Pos{ix.file, lines[i]}
	}
	return ix.section(header)
}
