//go:build unix

package mobile

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// dupFD duplicates the app's TUN descriptor (close-on-exec), so that the
// node owns its copy and the app keeps its own, as wireguard-apple does.
func dupFD(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, coded(CodeInvalid, fmt.Errorf("TUN descriptor %d: %w", fd, err))
	}
	return nfd, nil
}

// closeFD closes a descriptor dupFD returned.
func closeFD(fd int) { unix.Close(fd) }
