package config

import (
	"maps"
	"sort"
	"strings"

	"github.com/concdeploy/conc/jobs"
)

// OverrideSource is where a -p value came from, as conc config shows it.
const OverrideSource = "-p (command line)"

// ValidKey reports whether key is a param's key as the deploy file
// allows them.
func ValidKey(key string) bool { return keyRE.MatchString(key) }

// WithOverrides returns the file with params that replace every node's own
// for this run (-p KEY=VALUE): above [defaults], groups and [node NAME],
// and substituted like them. f itself is unchanged.
func (f *File) WithOverrides(over map[string]string) *File {
	g := *f
	g.overrides = maps.Clone(over)
	return &g
}

// Overrides returns the -p values the file was given, nil without any.
func (f *File) Overrides() map[string]string { return maps.Clone(f.overrides) }

// OverrideFlags renders over as the -p flags that give it, sorted and
// quoted for a shell, each with a space before it: " -p 'k=v' -p x=1",
// for messages and commands the operator can paste.
func OverrideFlags(over map[string]string) string {
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(" -p " + jobs.Quote(k+"="+over[k]))
	}
	return b.String()
}
