package sshconn

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/concdeploy/conc/config"
)

// FirstContact is conc hostkeys: read the host keys of many nodes and
// their jump hosts, show them in one table, ask once, and record the new
// ones. Changed keys are shown and never recorded.
type FirstContact struct {
	Out      io.Writer
	Dial     DialOptions
	Parallel int
	// Confirm asks the operator; nil records without asking (--yes).
	Confirm func(question string) (bool, error)
}

// Outcomes of FirstContact.Run.
const (
	ContactDone     = iota // every key is known now
	ContactDeclined        // the operator did not record the new keys
	ContactFailed          // a key changed, or a node could not be read
)

// maxRounds bounds the rounds: each records the keys of one more hop of
// the longest chain of new jump hosts.
const maxRounds = 8

// Run scans the nodes until every key up to each node is known, the
// operator declines, or only changed keys and errors are left.
func (fc *FirstContact) Run(ctx context.Context, f *config.File, nodes []*config.Node) (int, error) {
	recorded := 0
	for range maxRounds {
		scans := ScanNodes(ctx, f, nodes, fc.Dial, fc.Parallel)
		fresh, bad := fc.table(scans, recorded == 0)
		if len(fresh) == 0 {
			fmt.Fprintf(fc.Out, "recorded %d host key(s)\n", recorded)
			if bad > 0 {
				return ContactFailed, nil
			}
			return ContactDone, nil
		}
		if fc.Confirm != nil {
			ok, err := fc.Confirm(fmt.Sprintf("record these %d new host key(s)? [y/N] ", len(fresh)))
			if err != nil {
				return ContactDeclined, err
			}
			if !ok {
				fmt.Fprintln(fc.Out, "nothing recorded")
				if bad > 0 {
					return ContactFailed, nil
				}
				return ContactDeclined, nil
			}
		}
		if err := RecordHostKeys(fresh); err != nil {
			return ContactFailed, err
		}
		recorded += len(fresh)
	}
	return ContactFailed, fmt.Errorf("jump hosts more than %d deep: run conc hostkeys again", maxRounds)
}

// table prints the keys the scans found (all, or the new ones and the
// problems), and returns the new keys, each once, and the count of
// problems: changed keys and nodes not read.
func (fc *FirstContact) table(scans []NodeScan, all bool) ([]HostKey, int) {
	tw := tabwriter.NewWriter(fc.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHOST\tADDRESS\tKEY\tSTATE")
	var fresh []HostKey
	seen := map[string]bool{}
	bad := 0
	// Two different new keys for one host (one connection answered by
	// another host on the way) are a conflict: neither is recorded.
	fps := map[string]map[string]bool{}
	for _, sc := range scans {
		for _, k := range sc.Keys {
			if k.State == KeyNew {
				if fps[k.host()] == nil {
					fps[k.host()] = map[string]bool{}
				}
				fps[k.host()][k.Fingerprint] = true
			}
		}
	}
	for _, s := range scans {
		if s.Err != nil {
			bad++
			fmt.Fprintf(tw, "%s\t\t\t\tcannot read: %v\n", s.Node, s.Err)
			continue
		}
		for _, k := range s.Keys {
			conflict := k.State == KeyNew && len(fps[k.host()]) > 1
			switch {
			case k.State == KeyChanged || conflict:
				bad++
			case k.State == KeyNew && !seen[k.id()]:
				seen[k.id()] = true
				fresh = append(fresh, k)
			case !all:
				continue
			}
			state := string(k.State)
			switch {
			case k.State == KeyChanged:
				state = "CHANGED: refused; see " + k.KnownHosts
			case conflict:
				state = "CONFLICT: this host showed more than one key; none recorded"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\n", s.Node, k.Host, k.Addr, k.Key.Type(), k.Fingerprint, state)
		}
	}
	tw.Flush()
	return fresh, bad
}
