package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runTool runs homeip-lab with args and returns its combined output and
// exit error.
func runTool(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, labTool, args...).CombinedOutput()
	return string(out), err
}

var labLine = regexp.MustCompile(`Lab (hip[a-z0-9]+) built`)

// TestDemo runs the README's first command (`homeip-lab demo`, shortened,
// on the suite's profile) and checks its account: the stream came
// through both moves intact, and the lab is gone afterwards.
func TestDemo(t *testing.T) {
	t.Parallel()
	b := needBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := runTool(ctx, "demo", "-bin", filepath.Dir(b.HA), "-dwell", "1500ms", "-profile", suiteProfile())
	t.Logf("homeip-lab demo:\n%s", out)
	if err != nil {
		t.Fatalf("homeip-lab demo: %v", err)
	}
	for _, want := range []string{
		"BROKEN:", // the baseline without homeip
		"registered in",
		">>> move 1: Wi-Fi → cellular",
		">>> move 2: cellular → Wi-Fi",
		": match",
		"resets           0",
		"came through both moves intact",
		"torn down",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	m := labLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatal("demo printed no lab name")
	}
	left, err := exec.CommandContext(ctx, "ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	if strings.Contains(string(left), m[1]+"-") {
		t.Errorf("demo left namespaces of lab %s behind:\n%s", m[1], left)
	}
}

// TestBenchHandoverCommand runs `homeip-lab bench-handover` with one move
// of kinds 1, 2, 6 and 7 on every path, under the suite's profile, and
// checks that it measured them all and printed the table and the goals.
// Figures are not judged here; without a tunnel every stream must break,
// whatever the timing.
func TestBenchHandoverCommand(t *testing.T) {
	t.Parallel()
	b := needBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	jsonPath := filepath.Join(t.TempDir(), "moves.json")
	out, err := runTool(ctx, "bench-handover", "-bin", filepath.Dir(b.HA), "-moves", "1", "-window", "2s",
		"-kinds", "1,2,6,7", "-profiles", suiteProfile(), "-json", jsonPath)
	t.Logf("homeip-lab bench-handover:\n%s", out)
	if err != nil {
		t.Fatalf("homeip-lab bench-handover: %v", err)
	}
	if !strings.Contains(out, "median") || !strings.Contains(out, "wireguard") || !strings.Contains(out, "| "+suiteProfile()) {
		t.Errorf("no table in the output")
	}
	if !strings.Contains(out, "goals (homeip):") {
		t.Errorf("no goals in the output")
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var moves []struct {
		Profile string `json:"profile"`
		Path    string `json:"path"`
		Kind    int    `json:"kind"`
		Broken  bool   `json:"broken"`
	}
	if err := json.Unmarshal(raw, &moves); err != nil {
		t.Fatalf("bench-handover -json: %v", err)
	}
	count := map[string]int{}
	for _, m := range moves {
		count[m.Path]++
		if m.Profile != suiteProfile() {
			t.Errorf("move %+v: profile %q, want %q", m, m.Profile, suiteProfile())
		}
		if m.Path == "none" && !m.Broken {
			t.Errorf("no tunnel, kind %d: the stream survived the move", m.Kind)
		}
	}
	for _, p := range []string{"homeip", "wireguard", "none"} {
		if count[p] != 4 {
			t.Errorf("%s: %d moves measured, want 4 (one per kind)", p, count[p])
		}
	}
}
