package client

import (
	"bufio"
	"context"
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

// The control socket speaks one JSON request per line and answers with
// one JSON response per line:
//
//	{"cmd":"status"}  ->  {"ok":true,"status":{...}}
//	{"cmd":"down"}    ->  {"ok":true}
//
// The socket file is mode 0600: only its owner (root) may query or stop
// the node.

type controlRequest struct {
	Cmd string `json:"cmd"`
}

type controlResponse struct {
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// ControlHandler is what the control socket serves.
type ControlHandler interface {
	// Status returns the node's current status.
	Status() Status
	// Down asks the node to stop cleanly; it returns at once.
	Down()
}

// ListenControl listens on the unix socket at path with mode 0600. A stale
// socket left by a killed node is replaced; a live one is an error.
func ListenControl(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("client: control socket %s: another mnode is running", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("client: removing stale control socket: %w", err)
	}
	// The umask makes the socket 0600 from the start, with no window in
	// which others could connect.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("client: control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("client: control socket: %w", err)
	}
	return ln, nil
}

// ControlServer serves the control socket.
type ControlServer struct {
	ln  net.Listener
	h   ControlHandler
	log *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewControlServer returns a server for ln; Serve starts it.
func NewControlServer(ln net.Listener, h ControlHandler, log *slog.Logger) *ControlServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ControlServer{ln: ln, h: h, log: log, conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections until Close; it returns nil after Close.
func (s *ControlServer) Serve() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("client: control socket: %w", err)
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

func (s *ControlServer) serveConn(c net.Conn) {
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
		var req controlRequest
		var resp controlResponse
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
func (s *ControlServer) Close() error {
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

// controlCall sends one request to the node at path.
func controlCall(ctx context.Context, path, cmd string) (controlResponse, error) {
	var resp controlResponse
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return resp, fmt.Errorf("%w (no node answers on %s)", ErrNotRunning, path)
		}
		return resp, fmt.Errorf("client: control socket %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	b, _ := json.Marshal(controlRequest{Cmd: cmd})
	if _, err := c.Write(append(b, '\n')); err != nil {
		return resp, fmt.Errorf("client: control socket: %w", err)
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), 1<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return resp, fmt.Errorf("client: control socket: %w", err)
		}
		return resp, fmt.Errorf("client: control socket: node closed the connection")
	}
	if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
		return resp, fmt.Errorf("client: control socket: bad answer: %w", err)
	}
	if !resp.OK {
		return resp, fmt.Errorf("client: node refused %s: %s", cmd, resp.Error)
	}
	return resp, nil
}

// QueryStatus asks the node listening on the control socket at path for
// its status. ErrNotRunning when nothing listens there.
func QueryStatus(ctx context.Context, path string) (Status, error) {
	resp, err := controlCall(ctx, path, "status")
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, fmt.Errorf("client: control socket: answer without status")
	}
	return *resp.Status, nil
}

// RequestDown asks the node listening at path to stop. It returns once the
// node has accepted the request, not when it has stopped.
func RequestDown(ctx context.Context, path string) error {
	_, err := controlCall(ctx, path, "down")
	return err
}
