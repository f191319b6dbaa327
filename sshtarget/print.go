package sshtarget

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/concdeploy/conc/config"
)

// PrintParams prints what conc config shows: the node's params, sorted,
// each with the file and line it came from, and in place of the deploy
// file's (or next to them) the connection settings t took from ssh_config,
// with its file and line. Secrets are redacted.
func PrintParams(w io.Writer, n *config.Node, t Target) error {
	lines := map[string]Setting{}
	for k, p := range n.Params {
		lines[k] = Setting{Key: k, Value: p.Value, Where: p.Pos.String()}
	}
	for _, s := range t.Settings {
		lines[s.Key] = s
	}
	keys := make([]string, 0, len(lines))
	for k := range lines {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, k := range keys {
		v := lines[k].Value
		if config.IsSecret(k) {
			v = "<redacted>"
		}
		fmt.Fprintf(tw, "%s = %s\t; %s\n", k, v, lines[k].Where)
	}
	return tw.Flush()
}
