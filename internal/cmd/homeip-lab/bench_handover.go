package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/homeip/homeip/internal/handoverbench"
	"github.com/homeip/homeip/internal/netlab"
)

var benchHandoverCmd = command{
	summary: "handover gaps of moves 1-8 per access-network profile, node receive-only: homeip vs plain WireGuard vs no tunnel",
	run:     runBenchHandover,
}

func runBenchHandover(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-handover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg handoverbench.Config
	fs.IntVar(&cfg.Moves, "moves", 50, "moves per kind and path (use a few for a quick run)")
	kinds := fs.String("kinds", "1,2,3,4,5,6,7,8", "kinds of move: 1 wifi→cell, 2 cell→wifi, 3 wifi dies silently, 4 wifi NAT flushed, 5 wifi→standby cell (already up), "+
		"6 wifi→cell with a bulk transfer, 7 IPv4-only wifi→IPv6-only cell, 8 IPv6-only cell→IPv4-only wifi")
	profiles := fs.String("profiles", handoverbench.DefaultProfile, "access-network profiles to measure every kind under, one column group each: "+
		strings.Join(netlab.ProfileNames(), ", ")+" (field: Wi-Fi MTU 1492, 5 ms; cellular MTU 1280, 60±15 ms, 1% loss; NAT UDP timeouts 30 s)")
	paths := fs.String("paths", strings.Join(handoverbench.AllPaths, ","), "paths to compare")
	fs.DurationVar(&cfg.Window, "window", 3*time.Second, "a stream not resumed this long after a move counts as broken")
	fs.DurationVar(&cfg.Interval, "interval", 2*time.Millisecond, "interval between stream records (gap resolution)")
	fs.BoolVar(&cfg.Sequential, "sequential", false, "run the paths one after another instead of in three labs at once")
	binDir := fs.String("bin", "", "directory holding ha, mnode and wireguard-go (default: this program's directory)")
	jsonOut := fs.String("json", "", "also write every move's result as JSON to this file")
	verbose := fs.Bool("v", false, "log lab and deployment operations")
	nf := addLinkFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	for _, name := range strings.Split(*profiles, ",") {
		name = strings.TrimSpace(name)
		network, err := nf.networkFor(name)
		if err != nil {
			fmt.Fprintln(stderr, "homeip-lab bench-handover:", err)
			return exitUsage
		}
		cfg.Profiles = append(cfg.Profiles, handoverbench.Profile{Name: name, Network: network})
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "homeip-lab bench-handover: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	for _, s := range strings.Split(*kinds, ",") {
		k, err := handoverbench.ParseKind(strings.TrimSpace(s))
		if err != nil {
			fmt.Fprintln(stderr, "homeip-lab bench-handover:", err)
			return exitUsage
		}
		cfg.Kinds = append(cfg.Kinds, k)
	}
	for _, p := range strings.Split(*paths, ",") {
		cfg.Paths = append(cfg.Paths, strings.TrimSpace(p))
	}
	dir, err := binaryDir(*binDir)
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab bench-handover:", err)
		return exitUsage
	}
	cfg.Bin = handoverbench.In(dir)
	cfg.Logger = cliLogger(stderr, *verbose)
	cfg.Progress = stdout
	if err := netlab.Check(); err != nil {
		fmt.Fprintln(stderr, "homeip-lab bench-handover: this machine cannot build the lab:", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "bench-handover: %d moves of kinds %s on %s, window %v (binaries in %s), profiles %s\n",
		cfg.Moves, *kinds, *paths, cfg.Window, dir, *profiles)
	for _, p := range cfg.Profiles {
		fmt.Fprintf(stdout, "  profile %s:\n", p.Name)
		describeNetwork(stdout, "    ", p.Network)
	}
	res, err := handoverbench.Run(ctx, cfg)
	if res == nil {
		fmt.Fprintln(stderr, "homeip-lab bench-handover:", err)
		return exitUsage
	}
	fmt.Fprintln(stdout)
	res.WriteTable(stdout)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, res); err != nil {
			fmt.Fprintln(stderr, "homeip-lab bench-handover:", err)
			return exitFailed
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "homeip-lab bench-handover:", err)
		return exitFailed
	}
	for _, p := range res.Paths {
		if p.Err != nil {
			return exitFailed
		}
	}
	return exitOK
}

// binaryDir returns dir, or the directory of this executable (where `make
// build` puts ha, mnode and wireguard-go next to homeip-lab).
func binaryDir(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locating this executable: %w", err)
	}
	return filepath.Dir(exe), nil
}

// writeJSON writes every move of res to path.
func writeJSON(path string, res *handoverbench.Result) error {
	type move struct {
		Profile    string   `json:"profile"`
		Path       string   `json:"path"`
		Kind       int      `json:"kind"`
		N          int      `json:"n"`
		GapMS      *float64 `json:"gap_ms"` // null: not resumed within the window
		Broken     bool     `json:"broken"`
		Unmeasured bool     `json:"unmeasured,omitempty"`
		Reason     string   `json:"reason,omitempty"`
		HandoverMS *float64 `json:"node_handover_ms,omitempty"` // mnode's own figure
	}
	var out []move
	for _, p := range res.Paths {
		for _, m := range p.Moves {
			mv := move{Profile: m.Profile, Path: m.Path, Kind: int(m.Kind), N: m.N, Broken: m.Broken, Unmeasured: m.Unmeasured, Reason: m.Reason}
			if g := m.GapMS; !math.IsInf(g, 1) {
				mv.GapMS = &g
			}
			if h := m.NodeHandoverMS; !math.IsNaN(h) {
				mv.HandoverMS = &h
			}
			out = append(out, mv)
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
