package runreport

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/concdeploy/conc/jobs"
)

// recapOrder lists statuses for the counts, the worst last so it catches
// the eye at the end of the line.
var recapOrder = []string{string(jobs.OK), string(jobs.Stopped), notRun, string(jobs.Blocked),
	string(jobs.Failed), string(jobs.TimedOut), string(jobs.Error)}

// recapText is the table that ends a run over several nodes: how each
// ended, then why for each that is not OK, then the counts. It is the
// last thing a run prints, so that a failed node's lines that scrolled
// away are summed up where the operator looks.
func recapText(outs []Outcome, halted, command string) string {
	var b strings.Builder
	b.WriteString("\nRECAP\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tSTATUS\tLAST STEP\tDURATION")
	counts := map[string]int{}
	for _, o := range outs {
		j := outcomeOf(o)
		counts[j.Status]++
		step, dur := "-", "-"
		if o.Step > 0 {
			step = fmt.Sprintf("%d/%d %s", o.Step, o.Steps, o.Op)
		}
		if o.Ran {
			dur = formatDuration(o.Duration)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", o.Node, j.Status, step, dur)
	}
	tw.Flush()
	var why []string
	for _, o := range outs {
		if o.Ran && o.Status != jobs.OK && o.Message != "" {
			where := "before its first step"
			switch {
			case o.Step > 0 && o.At:
				where = fmt.Sprintf("at step %d/%d %s", o.Step, o.Steps, o.Op)
			case o.Step > 0:
				where = fmt.Sprintf("after step %d/%d %s", o.Step, o.Steps, o.Op)
			}
			why = append(why, fmt.Sprintf("  %s: %s %s: %s\n", o.Node, o.Status, where, firstLine(o.Message)))
		}
	}
	if len(why) > 0 {
		b.WriteString("\n")
		b.WriteString(strings.Join(why, ""))
	}
	if halted != "" {
		fmt.Fprintf(&b, "\n%s; the nodes NOT RUN were not touched.\n", upperFirst(halted))
	}
	var resume, again, rest []string
	for _, o := range outs {
		switch {
		case o.Resumable:
			resume = append(resume, o.Node)
		case !o.Ran:
			rest = append(rest, o.Node)
		case o.Status != jobs.OK:
			again = append(again, o.Node)
		}
	}
	if command != "" && len(resume)+len(again)+len(rest) > 0 {
		b.WriteString("\n")
		for _, h := range []struct {
			label, tail string
			nodes       []string
		}{{"continue", " --resume", resume}, {"again", "", again}, {"the rest", "", rest}} {
			if len(h.nodes) > 0 {
				fmt.Fprintf(&b, "  %-9s %s %s%s\n", h.label+":", command, strings.Join(h.nodes, " "), h.tail)
			}
		}
	}
	var parts []string
	for _, st := range recapOrder {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	fmt.Fprintf(&b, "\n%d node(s): %s\n", len(outs), strings.Join(parts, ", "))
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
