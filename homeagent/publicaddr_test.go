package homeagent

import (
	"strings"
	"testing"
)

// TestTokenWarnsOfPrivateAddrs: a token whose addresses were all detected
// on the host and are private comes with a warning that says what to do;
// configured addresses do not.
func TestTokenWarnsOfPrivateAddrs(t *testing.T) {
	for _, detected := range []bool{false, true} {
		cfg := labConfig("")
		cfg.PublicAddrsDetected = detected
		h := startHA(t, t.TempDir(), cfg, nil)
		res, err := h.admin.AddDevice("phone")
		if err != nil {
			t.Fatal(err)
		}
		again, err := h.admin.NewToken("phone")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{res.Warning, again.Warning} {
			if detected != (w != "") {
				t.Errorf("detected=%v: warning %q", detected, w)
			}
			if w != "" && !strings.Contains(w, "--public-addr") {
				t.Errorf("warning does not name --public-addr: %q", w)
			}
		}
	}
}
