package netlab_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/homeip/homeip/internal/netlab"
)

const checkChildEnv = "HOMEIP_NETLAB_CHECK_CHILD"

// checkChild prints what Check says, for TestCheckNotRoot.
func checkChild() {
	err := netlab.Check()
	switch {
	case errors.Is(err, netlab.ErrNotRoot):
		os.Stdout.WriteString("NOTROOT " + err.Error() + "\n")
	default:
		os.Stdout.WriteString("OTHER " + strings.TrimSpace(errString(err)) + "\n")
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestCheckMissingTool: without ip/nft on PATH, Check names the tool.
func TestCheckMissingTool(t *testing.T) {
	if os.Geteuid() != 0 {
		if err := netlab.Check(); !errors.Is(err, netlab.ErrNotRoot) {
			t.Fatalf("Check as non-root = %v, want ErrNotRoot", err)
		}
		return
	}
	t.Setenv("PATH", t.TempDir())
	err := netlab.Check()
	if !errors.Is(err, netlab.ErrMissingTool) || !strings.Contains(err.Error(), "ip") {
		t.Fatalf("Check without tools = %v, want ErrMissingTool naming ip", err)
	}
}

// TestCheckNotRoot runs Check in a copy of this test binary as user
// nobody and expects ErrNotRoot, promptly.
func TestCheckNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if err := netlab.Check(); !errors.Is(err, netlab.ErrNotRoot) {
			t.Fatalf("Check as non-root = %v, want ErrNotRoot", err)
		}
		return
	}
	dir, err := os.MkdirTemp("", "netlab-check")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // nobody must reach the binary
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "netlab.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), checkChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "NOTROOT netlab: must run as root") {
		t.Fatalf("Check as nobody said %q, want ErrNotRoot", out)
	}
}
