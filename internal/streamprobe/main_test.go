package streamprobe

import (
	"testing"
	"time"

	"github.com/homeip/homeip/internal/leaktest"
)

// TestMain fails the run if a goroutine of this package outlives the
// tests: every goroutine Send and Receive start must have been joined.
func TestMain(m *testing.M) {
	leaktest.Main(m, 2*time.Second, nil, "streamprobe.")
}
