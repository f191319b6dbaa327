package config

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Keys a [group] may set for a rollout over its nodes; flags win.
const (
	KeyBatch   = "batch"
	KeyMaxFail = "max_fail"
)

// Limit narrows nodes to those that patterns select: a comma-separated
// list of globs on node names (path.Match syntax) or group names, each of
// which may start with ! to exclude. With no pattern to include, every
// node not excluded stays. Selecting none is an error: a --limit that
// matches nothing is a typo, not a request to do nothing.
func (f *File) Limit(nodes []*Node, patterns string) ([]*Node, error) {
	var include, exclude []string
	for _, p := range strings.Split(patterns, ",") {
		p = strings.TrimSpace(p)
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if p == "" {
			return nil, fmt.Errorf("--limit %q has an empty pattern; separate patterns with single commas", patterns)
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("--limit: %q is not a valid pattern: %v", p, err)
		}
		if neg {
			exclude = append(exclude, p)
		} else {
			include = append(include, p)
		}
	}
	var out []*Node
	for _, n := range nodes {
		if (len(include) == 0 || f.selects(include, n.Name)) && !f.selects(exclude, n.Name) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		names := make([]string, len(nodes))
		for i, n := range nodes {
			names[i] = n.Name
		}
		return nil, fmt.Errorf("--limit %q selects none of %s", patterns, strings.Join(names, ", "))
	}
	return out, nil
}

// selects reports whether one of patterns names node, by a glob on its
// name or as a group it belongs to.
func (f *File) selects(patterns []string, node string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, node); ok {
			return true
		}
		for name, g := range f.groups {
			if ok, _ := path.Match(p, name); ok {
				if members, _, _ := g.one("nodes"); slices.Contains(strings.Fields(members.Value), node) {
					return true
				}
			}
		}
	}
	return false
}

// GroupSetting returns what the groups among names set for key (batch or
// max_fail), and where. Groups that disagree are an error: the operator
// says which by flag.
func (f *File) GroupSetting(names []string, key string) (Param, error) {
	var found Param
	for _, name := range names {
		g, ok := f.groups[name]
		if !ok {
			continue
		}
		p, set, err := g.one(key)
		switch {
		case err != nil:
			return Param{}, err
		case !set:
			continue
		case found.Pos.File != "" && p.Value != found.Value:
			return Param{}, errorf(p.Pos, "[group %s] sets %s = %s, and %s sets %s; give --%s to choose",
				name, key, p.Value, found.Pos, found.Value, strings.ReplaceAll(key, "_", "-"))
		}
		found = p
	}
	return found, nil
}
