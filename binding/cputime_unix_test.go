//go:build unix

package binding

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the test process has used (user and
// system, all threads). Benchmarks report CPU time per operation next to
// wall time, because on a shared machine wall time measures the
// neighbours as much as the code.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
