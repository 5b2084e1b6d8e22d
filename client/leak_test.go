package client_test

import (
	"testing"
	"time"

	"github.com/homeip/homeip/internal/leaktest"
)

// TestMain fails the package when goroutines outlive the tests: every
// goroutine the node, its sessions, the control server and the fake home
// agent start (anything running homeip or quic-go code) must be gone once
// they are closed.
func TestMain(m *testing.M) {
	leaktest.Main(m, 5*time.Second, nil, "github.com/homeip/", "github.com/quic-go/")
}
