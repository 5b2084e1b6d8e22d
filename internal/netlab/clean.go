package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ownerDir holds one file per lab, named after its prefix, that records
// the process that built it (pid and start time). CleanAll leaves labs
// whose owner still runs alone, so cleaning up after a killed run never
// tears down a lab another test is using right now.
const ownerDir = "/run/homeip-netlab"

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

func writeOwner(prefix string) error {
	if err := os.MkdirAll(ownerDir, 0o755); err != nil {
		return fmt.Errorf("netlab: recording lab owner: %w", err)
	}
	pid := os.Getpid()
	st, err := procStartTime(pid)
	if err != nil {
		return fmt.Errorf("netlab: recording lab owner: %w", err)
	}
	data := fmt.Sprintf("%d %d\n", pid, st)
	if err := os.WriteFile(filepath.Join(ownerDir, prefix), []byte(data), 0o644); err != nil {
		return fmt.Errorf("netlab: recording lab owner: %w", err)
	}
	return nil
}

func removeOwner(prefix string) { _ = os.Remove(filepath.Join(ownerDir, prefix)) }

// ownerAlive reports whether the process recorded as the lab's builder
// still runs (same pid and start time, so a reused pid does not count).
func ownerAlive(prefix string) bool {
	data, err := os.ReadFile(filepath.Join(ownerDir, prefix))
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return false
	}
	pid, err1 := strconv.Atoi(f[0])
	st, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return false
	}
	cur, err := procStartTime(pid)
	return err == nil && cur == st
}

// procStartTime returns field 22 of /proc/PID/stat (start time in clock
// ticks since boot).
func procStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields restart after ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("netlab: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("netlab: malformed /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// CleanAll removes the namespaces of every lab whose name starts with
// prefix (which must itself start with "hip") and whose building process
// is gone: labs left behind by a killed run. It kills the processes left
// inside them first. Labs whose owner still runs are left alone. It
// returns the namespaces it removed.
func CleanAll(ctx context.Context, prefix string) (removed []string, err error) {
	if !strings.HasPrefix(prefix, "hip") || strings.ContainsAny(prefix, "/ ") {
		return nil, fmt.Errorf("%w: %q: clean only removes names starting with \"hip\"", ErrBadPrefix, prefix)
	}
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("netlab: listing namespaces: %w", err)
	}
	var errs []error
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if ownerAlive(labOf(name)) {
			continue
		}
		if err := deleteNamespace(ctx, name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	// Owner records whose labs are gone.
	if owners, err := os.ReadDir(ownerDir); err == nil {
		for _, o := range owners {
			if strings.HasPrefix(o.Name(), prefix) && !ownerAlive(o.Name()) && !hasNamespaces(o.Name()) {
				removeOwner(o.Name())
			}
		}
	}
	return removed, errors.Join(errs...)
}

// labOf returns the lab prefix of a namespace name ("hip3fa2c1-mn" →
// "hip3fa2c1").
func labOf(ns string) string {
	if i := strings.IndexByte(ns, '-'); i > 0 {
		return ns[:i]
	}
	return ns
}

func hasNamespaces(prefix string) bool {
	m, _ := filepath.Glob(filepath.Join(netnsDir, prefix+"-*"))
	return len(m) > 0
}

// killNamespacePids SIGKILLs every process whose network namespace is the
// named one and waits briefly for them to go.
func killNamespacePids(ctx context.Context, name string) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output()
	if err != nil {
		return
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			pids = append(pids, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			if !running(pid) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// RegisterOwner records this process as the owner of the namespaces named
// prefix + "-…", for tests that build their own namespaces instead of a
// Lab: while this process runs, CleanAll (and so `make test`'s clean step
// in a concurrent run) leaves them alone. prefix follows the rules of
// Options.Prefix (NewPrefix makes one). Call release when the namespaces
// are gone.
func RegisterOwner(prefix string) (release func(), err error) {
	if !prefixRE.MatchString(prefix) {
		return nil, fmt.Errorf("%w: %q (want hip + 1..17 of [a-z0-9])", ErrBadPrefix, prefix)
	}
	if err := writeOwner(prefix); err != nil {
		return nil, err
	}
	return func() { removeOwner(prefix) }, nil
}
