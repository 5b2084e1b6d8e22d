package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/leaktest"
	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
)

// bin locates the binaries TestMain built, labTool the homeip-lab
// command; buildErr says why there are none.
var (
	bin      handoverbench.Binaries
	labTool  string
	buildErr error
)

// TestMain builds ha, mnode, wireguard-go and homeip-lab once into a temporary directory when this
// machine can run the lab at all, and removes them afterwards.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if netlab.Check() == nil {
		dir, err := os.MkdirTemp("", "hipe2e")
		if err != nil {
			buildErr = err
		} else {
			defer os.RemoveAll(dir)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			bin, buildErr = handoverbench.Build(ctx, dir)
			if buildErr == nil {
				labTool = filepath.Join(dir, "homeip-lab")
				out, err := exec.CommandContext(ctx, "go", "build", "-o", labTool, "github.com/homeip/homeip/internal/cmd/homeip-lab").CombinedOutput()
				if err != nil {
					buildErr = fmt.Errorf("go build homeip-lab: %w: %s", err, out)
				}
			}
			cancel()
		}
	} else {
		buildErr = fmt.Errorf("lab unavailable")
	}
	code := m.Run()
	if code == 0 {
		if leaked := leaktest.Leaked(2*time.Second, "internal/handoverbench.", "internal/streamprobe."); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	return code
}

// needBinaries skips or fails the test (per labtest.Require) without a
// lab, and fails it when the binaries could not be built.
func needBinaries(t *testing.T) handoverbench.Binaries {
	t.Helper()
	labtest.Require(t)
	if buildErr != nil {
		t.Fatalf("building ha and mnode: %v", buildErr)
	}
	return bin
}

// defaultProfile is the netlab profile the suite's labs have unless
// HOMEIP_LAB_PROFILE names another: real access networks (MTUs below
// 1500, NATs that forget idle UDP mappings after 30 s, delay, jitter and
// loss on cellular). HOMEIP_LAB_PROFILE=ideal runs the suite on the
// ideal lab.
const defaultProfile = "field"

// suiteProfile returns the name of the profile the suite runs on.
func suiteProfile() string {
	if name := os.Getenv(labtest.ProfileEnv); name != "" {
		return name
	}
	return defaultProfile
}

// suiteNetwork returns the access networks of the suite's profile; an
// unknown name fails the test.
func suiteNetwork(t *testing.T) netlab.Network {
	t.Helper()
	n, err := netlab.Profile(suiteProfile())
	if err != nil {
		t.Fatalf("e2e: %s: %v", labtest.ProfileEnv, err)
	}
	return n
}

// deploy builds a lab with the suite's profile and starts ha and an
// enrolled mnode in it; both are removed when the test ends.
func deploy(t *testing.T) *handoverbench.HomeIP {
	t.Helper()
	b := needBinaries(t)
	n := suiteNetwork(t)
	lab := labtest.NewWith(t, netlab.Options{Network: n})
	t.Logf("lab %s: profile %s (Wi-Fi: %v; cellular: %v)", lab.Prefix, suiteProfile(), n.Wifi, n.Cell)
	return deployInLab(t, b, lab)
}

// deployIn is deploy in a lab whose access networks are network (the
// suite's profile does not apply).
func deployIn(t *testing.T, network netlab.Network) *handoverbench.HomeIP {
	t.Helper()
	b := needBinaries(t)
	return deployInLab(t, b, labtest.NewWith(t, netlab.Options{Network: network}))
}

// deployInLab starts ha and an enrolled mnode in lab.
func deployInLab(t *testing.T, b handoverbench.Binaries, lab *netlab.Lab) *handoverbench.HomeIP {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := handoverbench.StartHomeIP(ctx, lab, handoverbench.HomeIPOptions{Bin: b, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("starting homeip in lab %s: %v", lab.Prefix, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lab %s:\n%s", lab.Prefix, h.Logs())
		}
		h.Close()
	})
	t.Logf("lab %s: node registered with VIPs %v and %v", lab.Prefix, h.VIP4, h.VIP6)
	return h
}
