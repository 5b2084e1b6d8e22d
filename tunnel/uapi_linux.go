package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/ipc"
)

// uapiDir is where wg(8) and wgctrl look for userspace interfaces.
const uapiDir = "/var/run/wireguard"

// uapiServer serves the WireGuard UAPI protocol on
// /var/run/wireguard/<iface>.sock so that `wg show <iface>` and wgctrl
// read (and set) the live state. It owns its goroutines: close stops them
// and removes the socket.
type uapiServer struct {
	path string
	ln   net.Listener
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{} // guarded by mu
}

func listenUAPI(name string, dev *device.Device, log *slog.Logger) (*uapiServer, error) {
	f, err := ipc.UAPIOpen(name)
	if err != nil {
		return nil, fmt.Errorf("tunnel: opening UAPI socket for %s: %w", name, err)
	}
	ln, err := ipc.UAPIListen(name, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tunnel: listening on UAPI socket for %s: %w", name, err)
	}
	s := &uapiServer{path: filepath.Join(uapiDir, name+".sock"), ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					log.Debug("UAPI accept stopped", "err", err)
				}
				return
			}
			s.mu.Lock()
			if s.conns == nil { // closing
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				dev.IpcHandle(c) // closes c
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
		}
	}()
	return s, nil
}

// close stops serving, waits for the handlers and removes the socket.
func (s *uapiServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
	// The listener came from a file, so closing it does not unlink it.
	_ = os.Remove(s.path)
}
