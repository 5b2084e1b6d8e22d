package homeagent

import (
	"os"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/leaktest"
)

// TestMain removes the benchmark store and checks that the tests left no
// goroutine of the home agent behind (every goroutine has an owner that
// waits for it).
func TestMain(m *testing.M) {
	leaktest.Main(m, 5*time.Second, func() {
		if benchStoreDir != "" {
			os.RemoveAll(benchStoreDir)
		}
	}, "github.com/homeip/homeip/")
}
