package mobile

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// gobindAPI is what the gobind check found in a package: the exported
// identifiers it checked and the problems.
type gobindAPI struct {
	checked  []string
	problems []string
}

// gobindBasic are the basic types gobind binds (int is Java long; rune is
// int32). byte appears only in []byte.
var gobindBasic = map[string]bool{
	"bool": true, "int": true, "int8": true, "int16": true, "int32": true, "int64": true,
	"rune": true, "float32": true, "float64": true, "string": true, "error": true,
}

// checkGobindAPI parses the non-test Go files of dir and checks that every
// exported identifier uses only what gobind binds: signed integers,
// floats, strings, booleans, []byte, error, pointers to the package's
// exported structs and the package's exported interfaces; functions with
// no variadic parameter and at most two results, the second an error.
// Everything else (net/netip, channels, maps, context.Context, unsigned
// integers, other slices, function values, other packages' types, named
// basic types) is a problem.
func checkGobindAPI(dir string) (*gobindAPI, error) {
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no Go files in %s", dir)
	}
	api := &gobindAPI{}
	structs, ifaces := map[string]bool{}, map[string]bool{}
	bad := func(pos token.Pos, format string, args ...any) {
		p := fset.Position(pos)
		api.problems = append(api.problems, fmt.Sprintf("%s:%d: %s", filepath.Base(p.Filename), p.Line, fmt.Sprintf(format, args...)))
	}
	// Pass 1: the exported types.
	for _, f := range files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				if !ts.Name.IsExported() {
					continue
				}
				switch {
				case ts.TypeParams != nil:
					bad(ts.Pos(), "type %s is generic", ts.Name)
				case ts.Assign.IsValid():
					bad(ts.Pos(), "type %s is an alias", ts.Name)
				default:
					switch ts.Type.(type) {
					case *ast.StructType:
						structs[ts.Name.Name] = true
					case *ast.InterfaceType:
						ifaces[ts.Name.Name] = true
					default:
						bad(ts.Pos(), "type %s is %s; gobind binds only struct and interface types", ts.Name, exprString(fset, ts.Type))
					}
				}
			}
		}
	}
	var typeOK func(e ast.Expr) bool
	typeOK = func(e ast.Expr) bool {
		switch t := e.(type) {
		case *ast.Ident:
			return gobindBasic[t.Name] || ifaces[t.Name]
		case *ast.StarExpr:
			id, ok := t.X.(*ast.Ident)
			return ok && structs[id.Name]
		case *ast.ArrayType:
			id, ok := t.Elt.(*ast.Ident)
			return t.Len == nil && ok && id.Name == "byte"
		}
		return false
	}
	checkType := func(what string, e ast.Expr) {
		if !typeOK(e) {
			hint := ""
			if id, ok := e.(*ast.Ident); ok && structs[id.Name] {
				hint = " (pass *" + id.Name + ")"
			}
			bad(e.Pos(), "%s has type %s, which gobind cannot bind%s", what, exprString(fset, e), hint)
		}
	}
	checkFunc := func(what string, ft *ast.FuncType) {
		if ft.TypeParams != nil {
			bad(ft.Pos(), "%s is generic", what)
		}
		for _, p := range ft.Params.List {
			if _, ok := p.Type.(*ast.Ellipsis); ok {
				bad(p.Pos(), "%s is variadic", what)
				continue
			}
			checkType(what+" parameter", p.Type)
		}
		var results []ast.Expr
		if ft.Results != nil {
			for _, r := range ft.Results.List {
				for range max(1, len(r.Names)) {
					results = append(results, r.Type)
				}
			}
		}
		switch {
		case len(results) > 2:
			bad(ft.Pos(), "%s returns %d values; gobind allows a value and an error", what, len(results))
		case len(results) == 2:
			checkType(what+" result", results[0])
			if id, ok := results[1].(*ast.Ident); !ok || id.Name != "error" {
				bad(results[1].Pos(), "%s: the second result must be error", what)
			}
		case len(results) == 1:
			checkType(what+" result", results[0])
		}
	}
	// Pass 2: everything exported.
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				name := d.Name.Name
				if d.Recv != nil {
					recv := d.Recv.List[0].Type
					if st, ok := recv.(*ast.StarExpr); ok {
						recv = st.X
					}
					id, ok := recv.(*ast.Ident)
					if !ok || !id.IsExported() {
						continue // not bound
					}
					name = id.Name + "." + name
				}
				api.checked = append(api.checked, name)
				checkFunc(name, d.Type)
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						api.checked = append(api.checked, s.Name.Name)
						switch t := s.Type.(type) {
						case *ast.StructType:
							for _, fl := range t.Fields.List {
								if len(fl.Names) == 0 {
									bad(fl.Pos(), "struct %s embeds %s", s.Name, exprString(fset, fl.Type))
									continue
								}
								for _, n := range fl.Names {
									if n.IsExported() {
										api.checked = append(api.checked, s.Name.Name+"."+n.Name)
										checkType("field "+s.Name.Name+"."+n.Name, fl.Type)
									}
								}
							}
						case *ast.InterfaceType:
							for _, m := range t.Methods.List {
								ft, ok := m.Type.(*ast.FuncType)
								if !ok || len(m.Names) == 0 {
									bad(m.Pos(), "interface %s embeds %s", s.Name, exprString(fset, m.Type))
									continue
								}
								mn := s.Name.Name + "." + m.Names[0].Name
								if !m.Names[0].IsExported() {
									bad(m.Pos(), "interface %s has unexported method %s: no app could implement it", s.Name, m.Names[0])
								}
								api.checked = append(api.checked, mn)
								checkFunc(mn, ft)
							}
						}
					case *ast.ValueSpec:
						for i, n := range s.Names {
							if !n.IsExported() {
								continue
							}
							api.checked = append(api.checked, n.Name)
							switch {
							case s.Type != nil:
								if id, ok := s.Type.(*ast.Ident); !ok || !gobindBasic[id.Name] || id.Name == "error" && d.Tok == token.CONST {
									bad(n.Pos(), "%s %s has type %s", d.Tok, n, exprString(fset, s.Type))
								}
							case d.Tok == token.CONST && i < len(s.Values):
								if _, ok := s.Values[i].(*ast.BasicLit); !ok {
									bad(n.Pos(), "const %s: give it a literal value or a basic type", n)
								}
							case d.Tok == token.CONST:
								// iota continuation: an untyped integer.
							default:
								bad(n.Pos(), "var %s: declare its type so that it can be checked", n)
							}
						}
					}
				}
			}
		}
	}
	slices.Sort(api.checked)
	return api, nil
}

func exprString(fset *token.FileSet, e ast.Expr) string {
	var b strings.Builder
	if err := formatNode(&b, fset, e); err != nil {
		return fmt.Sprintf("%T", e)
	}
	return b.String()
}

// TestGobindAPI keeps the exported surface of the package bindable by
// gomobile: it fails on any exported identifier gobind cannot bind.
func TestGobindAPI(t *testing.T) {
	api, err := checkGobindAPI(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range api.problems {
		t.Error(p)
	}
	// The check must have seen the API, not an empty package.
	for _, want := range []string{
		"Enroll", "EnrollAs", "TunnelSettings", "Start", "Callbacks", "Callbacks.Protect", "Callbacks.StateChanged", "Callbacks.Log",
		"Node", "Node.NetworkChanged", "Node.NetworkChangedAddrs", "Node.UpdateNetwork", "Node.RemoveNetwork",
		"Node.SetPreferred", "Node.Status", "Node.StatusInfo", "Node.Stop", "Settings.Addresses", "Options.FullTunnel",
		"Status.State", "ErrorCode", "CodeRevoked",
	} {
		if !slices.Contains(api.checked, want) {
			t.Errorf("the check did not see %s", want)
		}
	}
	t.Logf("%d exported identifiers checked", len(api.checked))
}

// TestGobindCheckerCatches runs the check on a package full of what
// gobind cannot bind and expects every one to be reported.
func TestGobindCheckerCatches(t *testing.T) {
	api, err := checkGobindAPI(filepath.Join("testdata", "gobindbad"))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(api.problems, "\n")
	for _, want := range []string{
		"Addr parameter has type netip.Addr",
		"Chan parameter has type chan int",
		"Map result has type map[string]int",
		"Ctx parameter has type context.Context",
		"Unsigned parameter has type uint16",
		"Variadic is variadic",
		"Callback parameter has type func()",
		"Three returns 3 values",
		"SecondNotError: the second result must be error",
		"ByValue parameter has type Good, which gobind cannot bind (pass *Good)",
		"type Kind is int",
		"field Good.Prefix has type netip.Prefix",
		"field Good.Names has type []string",
		"Iface.Count result has type uint64",
		"interface Iface has unexported method hidden",
		"var Sentinel: declare its type",
		"var Counter has type uint32",
		"type Pair is generic",
		"Generic is generic",
		"Good.Bad parameter has type *os.File",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("not reported: %s", want)
		}
	}
	for _, ok := range []string{"Fine", "Good.Fine", "Good.Name", "Good.Data", "Iface.Name", "Version"} {
		if strings.Contains(all, " "+ok+" ") || strings.Contains(all, " "+ok+":") {
			t.Errorf("%s reported although gobind binds it:\n%s", ok, all)
		}
	}
	if len(api.problems) != 23 {
		t.Errorf("%d problems, want 23:\n%s", len(api.problems), all)
	}
}

// TestImports keeps the OS plumbing out of the package: no netlink, no
// water (the phone's OS owns the network and the TUN) and no testing.
// internal/archtest checks the dependencies as well.
func TestImports(t *testing.T) {
	fset := token.NewFileSet()
	names, _ := filepath.Glob("*.go")
	banned := []string{"github.com/vishvananda/netlink", "github.com/vishvananda/netns", "github.com/songgao/water", "testing"}
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			for _, b := range banned {
				if path == b || strings.HasPrefix(path, b+"/") {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no source files found")
	}
	if _, err := os.Stat("doc.go"); err != nil {
		t.Error("no doc.go")
	}
}
