package mobile

import (
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCrossVet vets the package as gomobile builds it: for Android
// (arm64; GOOS=android also selects the _linux.go files) and iOS (arm64;
// the go command needs cgo enabled to accept GOOS=ios, vet links nothing).
func TestCrossVet(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-platform vet skipped in -short mode")
	}
	for _, env := range [][]string{
		{"GOOS=android", "GOARCH=arm64", "CGO_ENABLED=0"},
		{"GOOS=ios", "GOARCH=arm64", "CGO_ENABLED=1"},
	} {
		cmd := exec.Command("go", "vet", ".")
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s go vet: %v\n%s", strings.Join(env, " "), err, out)
		}
	}
}

// GomobileEnv names a directory holding gomobile and gobind (go install
// golang.org/x/mobile/cmd/gomobile@latest golang.org/x/mobile/cmd/gobind@latest);
// TestGomobileBind runs only when it is set, since it needs the module
// proxy.
const GomobileEnv = "HOMEIP_GOMOBILE_BIN"

// TestGomobileBind runs gobind on a copy of the module (with
// golang.org/x/mobile added there, not here) and checks the generated
// Java API, then tries `gomobile bind -target=android`, which needs the
// Android SDK and NDK: without ANDROID_HOME its failure is only logged.
func TestGomobileBind(t *testing.T) {
	bin := os.Getenv(GomobileEnv)
	if bin == "" {
		t.Skipf("set %s to a directory with gomobile and gobind to run this", GomobileEnv)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "module")
	if err := copyModule(root, dst); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	run := func(limit time.Duration, name string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dst, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(5*time.Minute, "go", "get", "-tool", "golang.org/x/mobile/cmd/gobind"); err != nil {
		t.Fatalf("go get golang.org/x/mobile: %v\n%s", err, out)
	}
	outDir := filepath.Join(dst, "gobind-out")
	if out, err := run(5*time.Minute, filepath.Join(bin, "gobind"), "-lang=go,java,objc", "-outdir", outDir, "github.com/homeip/homeip/mobile"); err != nil {
		t.Fatalf("gobind: %v\n%s", err, out)
	}
	for file, wants := range map[string][]string{
		"java/mobile/Mobile.java":    {"static native Node start(String stateDir, long tunFD, Options opts, Callbacks cb) throws Exception", "static native void enroll(String token, String stateDir) throws Exception", "static native Settings tunnelSettings(String stateDir, boolean fullTunnel) throws Exception"},
		"java/mobile/Node.java":      {"native void networkChanged(String kind, String ifName) throws Exception", "native void setPreferred(String kind) throws Exception", "native String status()", "native void stop()"},
		"java/mobile/Callbacks.java": {"boolean protect(long fd)", "void stateChanged(String state, String statusJSON)", "void log(long level, String line)"},
		"java/mobile/Settings.java":  {"String getAddresses()", "long getMTU()"},
	} {
		b, err := os.ReadFile(filepath.Join(outDir, file))
		if err != nil {
			t.Errorf("gobind wrote no %s: %v", file, err)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}
	out, err := run(10*time.Minute, filepath.Join(bin, "gomobile"), "bind", "-target=android", "-o", filepath.Join(dst, "homeip.aar"), "./mobile")
	switch {
	case err == nil:
		t.Logf("gomobile bind -target=android built %s", filepath.Join(dst, "homeip.aar"))
	case os.Getenv("ANDROID_HOME") != "":
		t.Errorf("gomobile bind -target=android with ANDROID_HOME set: %v\n%s", err, out)
	default:
		t.Logf("gomobile bind -target=android not possible here (no Android SDK): %s", strings.TrimSpace(out))
	}
}

// copyModule copies the module's Go sources, go.mod and go.sum.
func copyModule(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !strings.HasSuffix(p, ".go") && rel != "go.mod" && rel != "go.sum" {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
