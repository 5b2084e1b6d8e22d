package handoverbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries locates the executables the deployments run.
type Binaries struct {
	// HA and MNode are the homeip home agent and mobile node.
	HA, MNode string
	// WireGuardGo is stock wireguard-go, for the plain WireGuard path.
	WireGuardGo string
}

// ErrNoBinary is wrapped when an executable a deployment needs is missing.
var ErrNoBinary = errors.New("handoverbench: executable not found")

// Packages built by Build, and the file names they get.
var buildTargets = []struct{ pkg, name string }{
	{"github.com/homeip/homeip/cmd/ha", "ha"},
	{"github.com/homeip/homeip/cmd/mnode", "mnode"},
	{"golang.zx2c4.com/wireguard", "wireguard-go"},
}

// Build compiles the named binaries ("ha", "mnode", "wireguard-go"; all
// three when none are named) into dir with `go build`; wireguard-go is
// stock wireguard-go at the version go.mod requires. It must run inside
// the module's tree (tests do: their working directory is their package).
func Build(ctx context.Context, dir string, names ...string) (Binaries, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("handoverbench: creating %s: %w", dir, err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, t := range buildTargets {
		if len(names) > 0 && !want[t.name] {
			continue
		}
		delete(want, t.name)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, t.name), t.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("handoverbench: go build %s: %w: %s", t.pkg, err, strings.TrimSpace(string(out)))
		}
	}
	for n := range want {
		return Binaries{}, fmt.Errorf("handoverbench: no binary %q to build (ha, mnode, wireguard-go)", n)
	}
	return In(dir), nil
}

// In returns the binaries' paths in dir (as Build and `make build` lay
// them out), without checking that they exist.
func In(dir string) Binaries {
	return Binaries{
		HA:          filepath.Join(dir, "ha"),
		MNode:       filepath.Join(dir, "mnode"),
		WireGuardGo: filepath.Join(dir, "wireguard-go"),
	}
}

// check reports the first of the named executables that is missing.
func check(paths ...string) error {
	for _, p := range paths {
		if p == "" {
			return fmt.Errorf("%w: no path given", ErrNoBinary)
		}
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNoBinary, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%w: %s is not executable", ErrNoBinary, p)
		}
	}
	return nil
}
