package config

import (
	"fmt"
	"sort"
	"strings"
)

// Bounds on ${key} substitution. Each level of a chain of keys may double a
// value (a = ${b}${b}, b = ${c}${c}, ...), so without them a few lines
// could fill any memory; no real deploy file comes near them.
const (
	maxValue = 1 << 20 // one value after substitution
	maxTotal = 8 << 20 // one node's params, one plan's steps or one node's tests together
	maxDepth = 100     // keys in one chain of ${} references
)

// scope says where a value being substituted comes from, for messages.
type scope struct {
	pos   Pos
	node  string
	what  string   // "step 3" or "[test t] file"; "" for a param
	chain []string // for a param: the keys that led to it, itself last
}

func (sc scope) name() string {
	if sc.what != "" || len(sc.chain) == 0 {
		return sc.what
	}
	key := "${" + sc.chain[len(sc.chain)-1] + "}"
	if len(sc.chain) == 1 {
		return key
	}
	return key + " (through " + chainText(sc.chain) + ")"
}

// chainText writes a chain of keys as a -> b -> c, its middle left out
// when it is long.
func chainText(chain []string) string {
	if len(chain) > 12 {
		chain = append(append(chain[:6:6], "..."), chain[len(chain)-5:]...)
	}
	return strings.Join(chain, " -> ")
}

// budget is what substitution may still produce for one node's params,
// one plan or one node's tests.
type budget struct{ left int }

func newBudget() *budget { return &budget{left: maxTotal} }

func (b *budget) take(v string, at scope) error {
	b.left -= len(v)
	if b.left >= 0 {
		return nil
	}
	return errorf(at.pos, "node %s: %s takes the values substituted for this node past %d bytes (8 MiB) in all; refer to large values fewer times, or keep large data in files", at.node, at.name(), maxTotal)
}

// substituteAll replaces ${key} in every value with the key's resolved
// value, recursively. A missing key or a cycle is an error at the line of
// the value that refers to it.
func substituteAll(raw map[string]Param, node string) (map[string]Param, error) {
	r := &resolver{raw: raw, node: node, out: make(map[string]Param, len(raw)), busy: map[string]bool{}, budget: newBudget()}
	// In sorted order, so that an error names the same line every time.
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := r.resolve(k); err != nil {
			return nil, err
		}
	}
	return r.out, nil
}

// resolver substitutes one node's params, each once.
type resolver struct {
	raw, out map[string]Param
	node     string
	stack    []string        // the keys being resolved, outermost first
	busy     map[string]bool // the keys in stack
	budget   *budget
}

func (r *resolver) resolve(key string) (string, error) {
	if p, ok := r.out[key]; ok {
		return p.Value, nil
	}
	p := r.raw[key]
	chain := append(r.stack, key)
	switch {
	case r.busy[key]:
		return "", errorf(p.Pos, "node %s: ${%s} refers to itself through %s", r.node, key, chainText(chain))
	case len(chain) > maxDepth:
		return "", errorf(p.Pos, "node %s: ${%s} is nested more than %d keys deep (%s); refer to fewer keys in turn", r.node, key, maxDepth, chainText(chain))
	}
	r.stack, r.busy[key] = chain, true
	defer func() { r.stack, r.busy[key] = r.stack[:len(r.stack)-1], false }()
	at := scope{pos: p.Pos, node: r.node, chain: chain}
	v, err := expand(p.Value, at, r.lookup)
	if err != nil {
		return "", err
	}
	if err := r.budget.take(v, at); err != nil {
		return "", err
	}
	r.out[key] = Param{Value: v, Pos: p.Pos}
	return v, nil
}

func (r *resolver) lookup(ref string) (string, bool, error) {
	if _, ok := r.raw[ref]; !ok {
		return "", false, nil
	}
	v, err := r.resolve(ref)
	return v, true, err
}

// paramLookup looks keys up in a node's resolved params.
func paramLookup(n *Node) func(string) (string, bool, error) {
	return func(key string) (string, bool, error) {
		p, ok := n.Params[key]
		return p.Value, ok, nil
	}
}

// expand replaces ${key} in s using lookup. Any other $ is left alone, so
// shell commands keep their $HOME and $$; $${ stands for a literal ${.
// The result is at most maxValue bytes long.
func expand(s string, at scope, lookup func(string) (string, bool, error)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, checkSize(len(s), at, "")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c != '$':
			b.WriteByte(c)
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 2
		case i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errorf(at.pos, "unclosed ${ in %q; close it with }, or write $${ for a literal ${", clip(s[i:]))
			}
			key := s[i+2 : i+2+end]
			if err := substitute(&b, key, at, lookup); err != nil {
				return "", err
			}
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), checkSize(b.Len(), at, "")
}

// substitute writes key's value to b, unless that makes b too long.
func substitute(b *strings.Builder, key string, at scope, lookup func(string) (string, bool, error)) error {
	v, ok, err := lookup(key)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(at.pos, "node %s: ${%s} is not set (in [defaults], its groups or [node %s])", at.node, clip(key), at.node)
	}
	if err := checkSize(b.Len()+len(v), at, key); err != nil {
		return err
	}
	b.WriteString(v)
	return nil
}

func checkSize(n int, at scope, key string) error {
	if n <= maxValue {
		return nil
	}
	what := at.name()
	if what == "" {
		what = "the value"
	}
	if key != "" {
		what = fmt.Sprintf("%s, once ${%s} is substituted,", what, clip(key))
	}
	return errorf(at.pos, "node %s: %s is longer than %d bytes (1 MiB); keep large data in a file of its own and name that file here", at.node, what, maxValue)
}
