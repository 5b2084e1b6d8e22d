package controlapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Listen listens on the unix socket at path with mode 0600. A stale
// socket left by a killed node is replaced; a live one is an error.
func Listen(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("controlapi: control socket %s: another mnode is running", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("controlapi: removing stale control socket: %w", err)
	}
	// The umask makes the socket 0600 from the start, with no window in
	// which others could connect.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("controlapi: control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("controlapi: control socket: %w", err)
	}
	return ln, nil
}

// Server serves the control socket.
type Server struct {
	ln  net.Listener
	h   Handler
	log *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a server for ln; Serve starts it.
func NewServer(ln net.Listener, h Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{ln: ln, h: h, log: log, conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections until Close; it returns nil after Close.
func (s *Server) Serve() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("controlapi: control socket: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), 64<<10)
	enc := json.NewEncoder(c)
	for {
		c.SetReadDeadline(time.Now().Add(time.Minute))
		if !sc.Scan() {
			return
		}
		var req request
		var resp response
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Error = "bad request: " + err.Error()
		} else {
			switch req.Cmd {
			case "status":
				st := s.h.Status()
				resp.OK, resp.Status = true, &st
			case "down":
				s.log.Info("stop requested on the control socket")
				s.h.Down()
				resp.OK = true
			default:
				resp.Error = fmt.Sprintf("unknown command %q", req.Cmd)
			}
		}
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

// Close stops accepting, closes open connections and waits for their
// goroutines. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if ua, ok := s.ln.Addr().(*net.UnixAddr); ok && ua.Name != "" {
		os.Remove(ua.Name)
	}
	return err
}
