package paramuse

import (
	"fmt"
	"sort"
	"strings"

	"github.com/concdeploy/conc/config"
)

// Apply applies -p KEY=VALUE flags to f, later ones winning, and checks
// their keys (CheckOverrides).
func Apply(f *config.File, flags []string) (*config.File, error) {
	if len(flags) == 0 {
		return f, nil
	}
	over := map[string]string{}
	for _, p := range flags {
		k, v, err := ParseOverride(p)
		if err != nil {
			return nil, err
		}
		over[k] = v
	}
	f = f.WithOverrides(over)
	return f, CheckOverrides(f)
}

// ParseOverride reads one -p KEY=VALUE. What it refuses is the operator's
// mistake (exit 2): a key conc sets itself, a key that is a secret, which
// must never be in argv, or a group's setting.
func ParseOverride(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	switch {
	case !ok:
		return "", "", fmt.Errorf("-p %q: want KEY=VALUE, such as -p release=1.4", clip(s))
	case !config.ValidKey(key):
		return "", "", fmt.Errorf("-p %q: bad key %q: a key is letters, digits, '_', '.' and '-', starting with a letter or '_'", clip(s), clip(key))
	case key == config.KeyName:
		return "", "", fmt.Errorf("-p %s: the node's name is set by conc", key)
	case config.IsSecret(key):
		return "", "", fmt.Errorf("-p %s: %s is a secret, and secrets are never taken from the command line, where other users of the workstation can read them; conc asks for it", key, key)
	case config.IsGroupSetting(key):
		return "", "", fmt.Errorf("-p %s: %s configures a group, not a node; give it as the flag --%s", key, key, strings.ReplaceAll(key, "_", "-"))
	case strings.ContainsAny(value, "\x00\n\r"):
		return "", "", fmt.Errorf("-p %s: the value holds a NUL or a line break, which no param may", key)
	}
	return key, value, nil
}

// CheckOverrides refuses a -p KEY=VALUE whose key nothing reads or uses:
// given on the command line, a typo would otherwise change nothing and
// say nothing. A key is known when conc reads it, the deploy file sets
// it, a ${key}, template or node test uses it, or it starts with
// config.OwnPrefix.
func CheckOverrides(f *config.File) error {
	over := f.Overrides()
	if len(over) == 0 {
		return nil
	}
	used, all := usedKeys(f)
	known := map[string]bool{}
	for _, k := range config.BuiltinParams() {
		known[k] = true
	}
	for _, d := range f.DefinedParams() {
		known[d.Key] = true
	}
	for k := range used {
		known[k] = true
	}
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if all || known[k] || strings.HasPrefix(k, config.OwnPrefix) {
			continue
		}
		candidates := make([]string, 0, len(known))
		for c := range known {
			candidates = append(candidates, c)
		}
		sort.Strings(candidates)
		hint := ""
		if s := suggestAmong(k, candidates); s != "" {
			hint = "did you mean -p " + s + "=...? "
		}
		return fmt.Errorf("-p %s: unknown key: %sconc reads no param %s, the deploy file sets none, and no ${%s}, template or [test NAME] uses it; if it is your own param, name it %s%s",
			clip(k), hint, clip(k), clip(k), config.OwnPrefix, clip(k))
	}
	return nil
}
