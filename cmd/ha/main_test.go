package main

import (
	"os"
	"testing"
)

// TestMain lets the root test run this test binary as `ha` inside a network
// namespace: with HOMEIP_TEST_HA_MAIN=1 it is the ha command.
func TestMain(m *testing.M) {
	if os.Getenv("HOMEIP_TEST_HA_MAIN") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}
