package rollout

import (
	"fmt"
	"path"
	"strings"

	"github.com/concdeploy/conc/config"
)

// Limit narrows nodes to those that patterns select: a comma-separated
// list of globs on node names (path.Match syntax) or group names, each of
// which may start with ! to exclude. With no pattern to include, every
// node not excluded stays. Selecting none is an error: a --limit that
// matches nothing is a typo, not a request to do nothing.
func Limit(f *config.File, nodes []*config.Node, patterns string) ([]*config.Node, error) {
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
	var out []*config.Node
	for _, n := range nodes {
		if (len(include) == 0 || selects(f, include, n.Name)) && !selects(f, exclude, n.Name) {
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
func selects(f *config.File, patterns []string, node string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, node); ok || len(f.GroupsOf(p, node)) > 0 {
			return true
		}
	}
	return false
}
