package handoverbench

import (
	"testing"
	"time"

	"github.com/homeip/homeip/internal/leaktest"
)

// TestMain fails the run if a stream's goroutines (this package's or
// streamprobe's) outlive the tests.
func TestMain(m *testing.M) {
	leaktest.Main(m, 2*time.Second, nil, "internal/handoverbench.", "internal/streamprobe.")
}
