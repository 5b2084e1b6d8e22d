package adminapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// NewHandler serves the API over b.
func NewHandler(b Backend, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "adminapi")
	mux := http.NewServeMux()
	h := func(pattern string, f func(r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			v, err := f(r)
			w.Header().Set("Content-Type", "application/json")
			if err != nil {
				code := http.StatusInternalServerError
				switch {
				case errors.Is(err, ErrNotFound):
					code = http.StatusNotFound
				case errors.Is(err, ErrConflict):
					code = http.StatusConflict
				case errors.Is(err, ErrInvalid):
					code = http.StatusBadRequest
				}
				log.Info("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
				w.WriteHeader(code)
				json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
				return
			}
			json.NewEncoder(w).Encode(v)
		})
	}
	h("POST /v1/devices", func(r *http.Request) (any, error) {
		var req struct {
			Name string `json:"name"`
		}
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return b.AddDevice(req.Name)
	})
	h("GET /v1/devices", func(*http.Request) (any, error) { return b.Devices() })
	h("GET /v1/devices/{name}", func(r *http.Request) (any, error) { return b.Device(r.PathValue("name")) })
	h("POST /v1/devices/{name}/token", func(r *http.Request) (any, error) { return b.NewToken(r.PathValue("name")) })
	h("GET /v1/devices/{name}/tokens", func(r *http.Request) (any, error) { return b.Tokens(r.PathValue("name")) })
	h("DELETE /v1/devices/{name}/tokens", func(r *http.Request) (any, error) { return b.CancelTokens(r.PathValue("name")) })
	h("POST /v1/devices/{name}/revoke", func(r *http.Request) (any, error) { return b.RevokeDevice(r.PathValue("name")) })
	h("POST /v1/devices/{name}/rename", func(r *http.Request) (any, error) {
		var req struct {
			NewName string `json:"new_name"`
		}
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return b.RenameDevice(r.PathValue("name"), req.NewName)
	})
	h("POST /v1/devices/{name}/reserve", func(r *http.Request) (any, error) {
		var req struct {
			Addr netip.Addr `json:"addr"`
		}
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return b.ReserveAddr(r.PathValue("name"), req.Addr)
	})
	h("DELETE /v1/devices/{name}/reserve/{addr}", func(r *http.Request) (any, error) {
		a, err := netip.ParseAddr(r.PathValue("addr"))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return b.UnreserveAddr(r.PathValue("name"), a)
	})
	h("DELETE /v1/devices/{name}", func(r *http.Request) (any, error) { return b.DeleteDevice(r.PathValue("name")) })
	h("POST /v1/devices/{name}/export", func(r *http.Request) (any, error) { return b.ExportDevice(r.PathValue("name")) })
	h("GET /v1/bindings", func(*http.Request) (any, error) { return b.Bindings() })
	h("GET /v1/pool", func(*http.Request) (any, error) { return b.Pool() })
	h("POST /v1/drain", func(*http.Request) (any, error) { return b.Drain() })
	return mux
}

type errorBody struct {
	Error string `json:"error"`
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// Server serves the API on a Unix socket. Start it with Listen and Serve;
// Close stops it and removes the socket.
type Server struct {
	path string
	ln   net.Listener
	srv  *http.Server
	wg   sync.WaitGroup
	once sync.Once
}

// Listen creates the socket at path with mode 0600 (its directory, if
// missing, with 0700) and starts serving h. A stale socket left by a killed
// daemon is replaced; a live one (another daemon answering) is an error.
func Listen(path string, h http.Handler, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("adminapi: creating socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("adminapi: %s: another home agent is running", path)
	}
	os.Remove(path)
	// The umask makes the socket 0600 from the start: no window in which
	// another user could connect.
	ln, err := listenUnixPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("adminapi: listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("adminapi: %w", err)
	}
	s := &Server{path: path, ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	if log != nil {
		s.srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops serving, waits for the serving goroutine and removes the
// socket. Idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.srv.Close()
		s.wg.Wait()
		os.Remove(s.path)
	})
	return nil
}
