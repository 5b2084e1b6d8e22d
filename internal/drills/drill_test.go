package drills

import (
	"bytes"
	"strings"
	"testing"
)

func TestSelectAndTable(t *testing.T) {
	if _, err := Select([]string{"no-such-drill"}); err == nil || !strings.Contains(err.Error(), "no-such-drill") {
		t.Fatalf("Select(unknown) = %v, want an error naming it", err)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Row{{Drill: "a", Check: "c", Figure: "1/1", OK: true}, {Drill: "b", Check: "d", Figure: "0/1"}}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "ok") || !strings.Contains(out, "FAILED") {
		t.Fatalf("table lacks a result column:\n%s", out)
	}
}
