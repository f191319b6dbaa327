package jobs

import (
	"fmt"
	"strings"
	"time"
)

// Host says where a job runs.
type Host string

// The two hosts.
const (
	Local  Host = "local"  // the operator's workstation, inside the controller
	Remote Host = "remote" // the node, inside the agent
)

// Job is one step of a plan, parsed: where it runs, its op and the op's
// arguments. Options every step takes are parsed into fields.
type Job struct {
	Host    Host
	Op      string
	Args    []string
	Timeout time.Duration // 0: none
}

// String renders the job the way a step line reads.
func (j Job) String() string {
	var b strings.Builder
	b.WriteString(string(j.Host))
	b.WriteByte(' ')
	b.WriteString(j.Op)
	if j.Timeout > 0 {
		fmt.Fprintf(&b, " --timeout=%s", j.Timeout)
	}
	for _, a := range j.Args {
		b.WriteByte(' ')
		b.WriteString(Quote(a))
	}
	return b.String()
}

// ParseStep parses a step line, "HOST OP [--timeout=D] [ARG ...]", split the
// way a shell splits words. defTimeout applies when the step sets none.
func ParseStep(line string, defTimeout time.Duration) (Job, error) {
	words, err := Split(line)
	if err != nil {
		return Job{}, err
	}
	if len(words) < 2 {
		return Job{}, fmt.Errorf("a step reads HOST OP [ARG ...]; got %q", line)
	}
	j := Job{Host: Host(words[0]), Op: words[1], Timeout: defTimeout}
	if j.Host != Local && j.Host != Remote {
		return Job{}, fmt.Errorf("host %q is neither local nor remote", words[0])
	}
	rest := words[2:]
	for len(rest) > 0 && strings.HasPrefix(rest[0], "--timeout") {
		v, n, err := optionValue(rest, "--timeout")
		if err != nil {
			return Job{}, err
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return Job{}, fmt.Errorf("--timeout=%s: want a duration such as 90s or 5m", v)
		}
		j.Timeout = d
		rest = rest[n:]
	}
	j.Args = rest
	return j, nil
}

// optionValue reads "--name=value" or "--name value" at the start of words,
// returning the value and how many words it took.
func optionValue(words []string, name string) (string, int, error) {
	w := words[0]
	switch {
	case strings.HasPrefix(w, name+"="):
		return strings.TrimPrefix(w, name+"="), 1, nil
	case w == name && len(words) > 1:
		return words[1], 2, nil
	case w == name:
		return "", 0, fmt.Errorf("%s needs a value", name)
	}
	return "", 0, fmt.Errorf("unknown option %s before the op's arguments", w)
}
