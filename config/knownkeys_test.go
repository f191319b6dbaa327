package config

import (
	"go/ast"
	goparser "go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBuiltinParamsComplete reads conc's sources for params read by name
// (env.Params()[K], n.Params[K], p[paramX] with p a node's params,
// n.Get(config.KeyX)) and requires each K to be in builtinParams: a param
// that conc reads but the list lacks would be refused at load time as
// unused.
func TestBuiltinParamsComplete(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Skip("not in the module's tree:", err)
	}
	fset := token.NewFileSet()
	files := map[string][]*ast.File{} // package directory -> its files
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := goparser.ParseFile(fset, path, nil, goparser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files[filepath.Dir(path)] = append(files[filepath.Dir(path)], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// String constants of each package, by package name.
	consts := map[string]map[string]string{}
	for _, pf := range files {
		for _, f := range pf {
			m := consts[f.Name.Name]
			if m == nil {
				m = map[string]string{}
				consts[f.Name.Name] = m
			}
			for _, decl := range f.Decls {
				g, ok := decl.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								m[name.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				}
			}
		}
	}
	// resolve returns the string a key expression stands for.
	resolve := func(pkg string, e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, err := strconv.Unquote(e.Value)
				return s, err == nil
			}
		case *ast.Ident:
			s, ok := consts[pkg][e.Name]
			return s, ok
		case *ast.SelectorExpr:
			if x, ok := e.X.(*ast.Ident); ok {
				s, ok := consts[x.Name][e.Sel.Name]
				return s, ok
			}
		}
		return "", false
	}
	isParamsName := func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.CallExpr: // env.Params()
			sel, ok := e.Fun.(*ast.SelectorExpr)
			return ok && sel.Sel.Name == "Params" && len(e.Args) == 0
		case *ast.SelectorExpr: // n.Params
			return e.Sel.Name == "Params"
		}
		return false
	}
	isParamConst := func(e ast.Expr) bool {
		id, ok := e.(*ast.Ident)
		if !ok {
			if sel, ok := e.(*ast.SelectorExpr); ok {
				id = sel.Sel
			} else {
				return false
			}
		}
		n := strings.ToLower(id.Name)
		return strings.HasPrefix(n, "param") || strings.HasPrefix(id.Name, "Key")
	}
	found := map[string]bool{}
	for _, pf := range files {
		for _, f := range pf {
			pkg := f.Name.Name
			ast.Inspect(f, func(node ast.Node) bool {
				var key ast.Expr
				switch x := node.(type) {
				case *ast.IndexExpr:
					if isParamsName(x.X) || isParamConst(x.Index) {
						key = x.Index
					}
				case *ast.CallExpr:
					if sel, ok := x.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Get" && len(x.Args) == 1 && isParamConst(x.Args[0]) {
						key = x.Args[0]
					}
				}
				if key == nil {
					return true
				}
				k, ok := resolve(pkg, key)
				if !ok {
					return true
				}
				found[k] = true
				if !IsBuiltinParam(k) && !groupSettings[k] {
					t.Errorf("%s: reads the param %q, which config's builtinParams lacks: add it there", fset.Position(node.Pos()), k)
				}
				return true
			})
		}
	}
	// The reads this test must see, so that it is not looking at nothing.
	for _, k := range []string{KeyVenv, KeyJump, KeyAdmin, KeyBundle, KeyIP, KeyKnownHosts, KeySSHConfig} {
		if !found[k] {
			t.Errorf("found no read of %q; is the test still looking in the right places?", k)
		}
	}
	// Every config.Key* that is a param is in the list.
	for name, v := range consts["config"] {
		if strings.HasPrefix(name, "Key") && !IsBuiltinParam(v) && !groupSettings[v] {
			t.Errorf("config.%s = %q is not in builtinParams", name, v)
		}
	}
}
