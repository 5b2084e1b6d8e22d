//go:build unix

package adminapi

import (
	"net"
	"sync"
	"syscall"
)

var umaskMu sync.Mutex

// listenUnixPrivate creates a Unix socket that only its owner can open.
func listenUnixPrivate(path string) (net.Listener, error) {
	umaskMu.Lock()
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	umaskMu.Unlock()
	return ln, err
}
