package config

import (
	"sort"
	"strings"
)

// substituteAll replaces ${key} in every value with the key's resolved
// value, recursively. A missing key or a cycle is an error at the line of
// the value that refers to it.
func substituteAll(raw map[string]Param, node string) (map[string]Param, error) {
	out := make(map[string]Param, len(raw))
	var resolve func(key string, stack []string) (string, error)
	resolve = func(key string, stack []string) (string, error) {
		if p, ok := out[key]; ok {
			return p.Value, nil
		}
		p := raw[key]
		for _, s := range stack {
			if s == key {
				return "", errorf(p.Pos, "node %s: ${%s} refers to itself through %s", node, key, strings.Join(append(stack, key), " -> "))
			}
		}
		v, err := expand(p.Value, p.Pos, node, func(ref string) (string, bool, error) {
			if _, ok := raw[ref]; !ok {
				return "", false, nil
			}
			s, err := resolve(ref, append(stack, key))
			return s, true, err
		})
		if err != nil {
			return "", err
		}
		out[key] = Param{Value: v, Pos: p.Pos}
		return v, nil
	}
	// In sorted order, so that an error names the same line every time.
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := resolve(k, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// expand replaces ${key} in s using lookup. Any other $ is left alone, so
// shell commands keep their $HOME and $$; $${ stands for a literal ${.
func expand(s string, pos Pos, node string, lookup func(string) (string, bool, error)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 2
		case i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errorf(pos, "unclosed ${ in %q", s)
			}
			key := s[i+2 : i+2+end]
			v, ok, err := lookup(key)
			if err != nil {
				return "", err
			}
			if !ok {
				return "", errorf(pos, "node %s: ${%s} is not set (in [defaults], its groups or [node %s])", node, key, node)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
