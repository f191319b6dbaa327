package config

import (
	"strings"
)

// TestDef is a [test NAME] section resolved for one node: its keys with
// ${key} substituted. What the keys mean is package nodetest's business.
type TestDef struct {
	Name string
	Pos  Pos
	Keys []string         // in file order
	Vals map[string]Param // substituted
}

// Selection keys of a [test NAME] section, read here.
const (
	testNodes  = "nodes"
	testGroups = "groups"
)

// TestNames returns the [test NAME] sections in file order.
func (f *File) TestNames() []string { return append([]string(nil), f.order[kindTest]...) }

// Tests returns the tests that apply to node n, in file order: those that
// name it in nodes =, or one of its groups in groups =, or name neither.
func (f *File) Tests(n *Node) ([]TestDef, error) {
	var out []TestDef
	b := newBudget()
	for _, name := range f.order[kindTest] {
		s := f.tests[name]
		applies, err := f.testApplies(s, n)
		if err != nil {
			return nil, err
		}
		if !applies {
			continue
		}
		d, err := testDef(s, n, b)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// testDef substitutes a test section's keys for node n.
func testDef(s *section, n *Node, b *budget) (TestDef, error) {
	d := TestDef{Name: s.name, Pos: s.pos, Vals: map[string]Param{}}
	for _, k := range s.keys {
		if k == testNodes || k == testGroups {
			continue
		}
		p, _, err := s.one(k)
		if err != nil {
			return TestDef{}, err
		}
		at := scope{pos: p.Pos, node: n.Name, what: s.label() + " " + k}
		v, err := expand(p.Value, at, paramLookup(n))
		if err != nil {
			return TestDef{}, err
		}
		if err := b.take(v, at); err != nil {
			return TestDef{}, err
		}
		d.Keys = append(d.Keys, k)
		d.Vals[k] = Param{Value: v, Pos: p.Pos}
	}
	return d, nil
}

func (f *File) testApplies(s *section, n *Node) (bool, error) {
	nodes, hasNodes, err := s.one(testNodes)
	if err != nil {
		return false, err
	}
	groups, hasGroups, err := s.one(testGroups)
	if err != nil {
		return false, err
	}
	for _, name := range strings.Fields(nodes.Value) {
		if _, ok := f.nodes[name]; !ok {
			return false, errorf(nodes.Pos, "[test %s] names node %q, which has no [node %s] section", s.name, clip(name), clip(name))
		}
	}
	for _, name := range strings.Fields(groups.Value) {
		if _, ok := f.groups[name]; !ok {
			return false, errorf(groups.Pos, "[test %s] names group %q, which has no [group %s] section", s.name, clip(name), clip(name))
		}
	}
	// An empty nodes = or groups = line selects nothing by itself, as when
	// it is left out.
	hasNodes = hasNodes && strings.TrimSpace(nodes.Value) != ""
	hasGroups = hasGroups && strings.TrimSpace(groups.Value) != ""
	if !hasNodes && !hasGroups {
		return true, nil
	}
	if contains(strings.Fields(nodes.Value), n.Name) {
		return true, nil
	}
	for _, g := range strings.Fields(groups.Value) {
		if contains(n.Groups, g) {
			return true, nil
		}
	}
	return false, nil
}
