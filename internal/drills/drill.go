// Package drills runs the home agent's fault and attack drills: each one
// starts the real ha binary in a lab of its own, does something a crash,
// a broken network or an attacker would do, and reports what it checked
// and what it measured as rows of one table.
package drills

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
)

// Config says where the binaries are and how hard the drills push.
type Config struct {
	// BinDir holds the ha and mnode binaries the drills start.
	BinDir string
	// Short runs every drill at a size that suits CI (seconds, not
	// minutes); the full size is what `make drills` runs.
	Short bool
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Log returns the configured logger or one that discards.
func (c Config) Log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Row is one line of the drill table: one property checked.
type Row struct {
	Drill  string // the drill's name
	Check  string // the property checked, e.g. "acknowledged leases kept"
	Figure string // what was measured, e.g. "313/313, 0 duplicates"
	OK     bool   // whether the property held
}

// Drill is one drill. Run returns its rows; an error means the drill could
// not be carried out at all (the lab did not start), which is a failure too.
type Drill struct {
	Name string
	Run  func(ctx context.Context, cfg Config) ([]Row, error)
}

var (
	mu       sync.Mutex
	registry = map[string]Drill{}
)

// register adds a drill; each drill's file calls it from init.
func register(d Drill) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[d.Name]; dup {
		panic("drills: duplicate drill " + d.Name)
	}
	registry[d.Name] = d
}

// All returns every drill, ordered by name.
func All() []Drill {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Drill, 0, len(registry))
	for _, d := range registry {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Select returns the drills whose names are listed (all of them when names
// is empty), or an error naming the unknown ones.
func Select(names []string) ([]Drill, error) {
	all := All()
	if len(names) == 0 {
		return all, nil
	}
	byName := map[string]Drill{}
	for _, d := range all {
		byName[d.Name] = d
	}
	var out []Drill
	var unknown []string
	for _, n := range names {
		d, ok := byName[n]
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		out = append(out, d)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown drill(s) %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

// WriteTable prints rows as one aligned table.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "drill\tcheck\tfigure\tresult")
	for _, r := range rows {
		res := "ok"
		if !r.OK {
			res = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Drill, r.Check, r.Figure, res)
	}
	return tw.Flush()
}
