package archtest

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/homeip/homeip"

// pkg is the subset of `go list -json` output the tests read.
type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list returned no packages")
	}
	return pkgs
}

// subAreas are packages below a top-level part that are parts of their
// own, with rules of their own: the allocation policy sits above both the
// pool and the store, apart from the rest of the home agent.
var subAreas = []string{"homeagent/lease"}

// area is the part of the module a package belongs to: its first path
// element below the module ("pool", "tunnel", ...), the first two for
// cmd/ and internal/ ("cmd/ha", "internal/netlab"), or one of subAreas
// (with the packages below it).
func area(importPath string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
	for _, s := range subAreas {
		if rel == s || strings.HasPrefix(rel, s+"/") {
			return s
		}
	}
	parts := strings.Split(rel, "/")
	if (parts[0] == "cmd" || parts[0] == "internal") && len(parts) > 1 {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

// rule says what a part of the module may import: other parts of the
// module by area, and whether modules outside the standard library are
// allowed at all (some areas may only use a named few).
type rule struct {
	internal []string // areas of this module it may import
	deps     bool     // any third-party module
	onlyDeps []string // if set, only these third-party prefixes
}

// rules mirror the arrows of docs/DESIGN.md. Areas not listed here are
// lab, test and tooling code under internal/ and may import anything but
// the binaries.
var rules = map[string]rule{
	"pool":    {},
	"binding": {},
	// The store keeps records and refuses duplicates; it does not import
	// the pool (the policy that proposes addresses).
	"store":  {deps: true},
	"tunnel": {deps: true},
	// The allocation policy: the pool proposes, the store commits, lease
	// runs the loop between them and nothing else.
	"homeagent/lease": {internal: []string{"pool", "store"}},
	"homeagent":       {internal: []string{"homeagent/lease", "pool", "store", "binding", "tunnel"}, deps: true},
	"client":          {internal: []string{"binding", "tunnel"}, deps: true},
	// mobile chooses the concrete data plane (CONVENTIONS.md: only cmd/*
	// and mobile/ choose concrete implementations), so it may import
	// tunnel as well as client; it must not touch netlink or water.
	"mobile":          {internal: []string{"client", "binding", "tunnel"}, deps: true},
	"cmd/ha":          {internal: []string{"homeagent", "pool", "store", "binding", "tunnel"}, deps: true},
	"cmd/mnode":       {internal: []string{"client", "binding", "tunnel"}, deps: true},
	"internal/netlab": {onlyDeps: []string{"github.com/vishvananda/netlink", "github.com/vishvananda/netns", "golang.org/x/sys"}},
}

func isStd(imp string) bool {
	first := strings.SplitN(imp, "/", 2)[0]
	return !strings.Contains(first, ".")
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment", p.ImportPath)
		}
	}
}

func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		from := area(p.ImportPath)
		r, ok := rules[from]
		for _, imp := range p.Imports {
			if isStd(imp) {
				continue
			}
			if strings.HasPrefix(imp, module+"/") || imp == module {
				to := area(imp)
				if to == from {
					continue
				}
				if strings.HasPrefix(to, "cmd/") {
					t.Errorf("%s imports binary package %s", p.ImportPath, imp)
					continue
				}
				if !ok {
					continue // internal tooling: anything but binaries
				}
				allowed := false
				for _, a := range r.internal {
					if a == to {
						allowed = true
					}
				}
				if !allowed {
					t.Errorf("%s (area %s) must not import %s (area %s)", p.ImportPath, from, imp, to)
				}
				continue
			}
			if !ok {
				continue
			}
			switch {
			case len(r.onlyDeps) > 0:
				allowed := false
				for _, d := range r.onlyDeps {
					if imp == d || strings.HasPrefix(imp, d+"/") {
						allowed = true
					}
				}
				if !allowed {
					t.Errorf("%s must not import third-party %s", p.ImportPath, imp)
				}
			case !r.deps:
				t.Errorf("%s may use only the standard library, imports %s", p.ImportPath, imp)
			}
		}
	}
}

// TestMobileAvoidsOSPlumbing keeps netlink, water and testing out of the
// mobile library (issue: mobile must run on a phone's OS, not netlink).
// The dependencies are those of the systems the library is built for
// (gomobile bind): on a Linux desktop tunnel/ itself uses netlink.
func TestMobileAvoidsOSPlumbing(t *testing.T) {
	banned := []string{"github.com/vishvananda/netlink", "github.com/songgao/water", "testing"}
	for _, goos := range []string{"android", "ios"} {
		cmd := exec.Command("go", "list", "-deps", module+"/mobile/...")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=arm64")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("GOOS=%s go list -deps mobile: %v", goos, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range banned {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("mobile depends on %s (GOOS=%s)", dep, goos)
				}
			}
		}
	}
}

// TestNoTestingInLibraries keeps the testing package out of non-test code,
// except in packages whose job is to be test support (named *test, such as
// tunnel/tunneltest, or the lab's labtest).
func TestNoTestingInLibraries(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.HasSuffix(path.Base(p.ImportPath), "test") {
			continue
		}
		for _, imp := range p.Imports {
			if imp == "testing" {
				t.Errorf("%s imports testing outside of tests", p.ImportPath)
			}
		}
	}
}

// TestAllocationThroughLease holds the arrows of the allocation policy
// that TestImportDirection cannot see, because they must exist rather
// than must not: the home agent allocates through lease, and lease is
// what joins the pool and the store.
func TestAllocationThroughLease(t *testing.T) {
	required := map[string][]string{
		module + "/homeagent":       {module + "/homeagent/lease"},
		module + "/homeagent/lease": {module + "/pool", module + "/store"},
	}
	for _, p := range listPackages(t) {
		want, ok := required[p.ImportPath]
		if !ok {
			continue
		}
		delete(required, p.ImportPath)
		for _, w := range want {
			if !slices.Contains(p.Imports, w) {
				t.Errorf("%s does not import %s", p.ImportPath, w)
			}
		}
	}
	for missing := range required {
		t.Errorf("package %s not found", missing)
	}
}

func TestAreaOf(t *testing.T) {
	cases := map[string]string{
		module + "/pool":                    "pool",
		module + "/homeagent":               "homeagent",
		module + "/homeagent/adminapi":      "homeagent",
		module + "/homeagent/lease":         "homeagent/lease",
		module + "/homeagent/leasehold":     "homeagent",
		module + "/tunnel/tunneltest":       "tunnel",
		module + "/cmd/ha":                  "cmd/ha",
		module + "/internal/netlab/labtest": "internal/netlab",
	}
	for in, want := range cases {
		if got := area(in); got != want {
			t.Errorf("area(%q) = %q, want %q", in, got, want)
		}
	}
}
