package homeagent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// StaticDevicesFile lists, one device id per line, the devices exported as
// wg-quick configurations: they have no mobile node to register, so their
// peer is live permanently (plain WireGuard roaming).
const StaticDevicesFile = "static-devices"

type staticSet struct {
	path string
	mu   sync.Mutex
	ids  map[string]bool
}

func loadStaticSet(dir string) (*staticSet, error) {
	s := &staticSet{path: filepath.Join(dir, StaticDevicesFile), ids: map[string]bool{}}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("homeagent: reading static devices: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			s.ids[line] = true
		}
	}
	return s, nil
}

func (s *staticSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.ids))
	for id := range s.ids {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (s *staticSet) set(id string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids[id] == on {
		return nil
	}
	if on {
		s.ids[id] = true
	} else {
		delete(s.ids, id)
	}
	var b strings.Builder
	ids := make([]string, 0, len(s.ids))
	for id := range s.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		b.WriteString(id + "\n")
	}
	if err := writeSecret(s.path, []byte(b.String())); err != nil {
		// Memory stays as the file says.
		if on {
			delete(s.ids, id)
		} else {
			s.ids[id] = true
		}
		return err
	}
	return nil
}
