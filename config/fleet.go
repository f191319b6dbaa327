package config

import (
	"path"
	"slices"
	"strings"
)

// Keys a [group] may set for a rollout over its nodes; flags win.
const (
	KeyBatch   = "batch"
	KeyMaxFail = "max_fail"
)

// GroupsOf returns the groups whose names match the glob pattern
// (path.Match syntax) and have node among their members, in file order.
func (f *File) GroupsOf(pattern, node string) []string {
	var out []string
	for _, name := range f.order[kindGroup] {
		if ok, _ := path.Match(pattern, name); ok {
			if members, _, _ := f.groups[name].one("nodes"); slices.Contains(strings.Fields(members.Value), node) {
				out = append(out, name)
			}
		}
	}
	return out
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
