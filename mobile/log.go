package mobile

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// callbackHandler is a slog.Handler that sends every record at or above
// its level to Callbacks.Log as one line of key=value text (no time: the
// platform's log adds its own).
type callbackHandler struct {
	cb    Callbacks
	level slog.Level
	text  slog.Handler // writes into *buf
	mu    *sync.Mutex  // guards buf, shared by the derived handlers
	buf   *bytes.Buffer
}

func newCallbackHandler(cb Callbacks, level slog.Level) *callbackHandler {
	h := &callbackHandler{cb: cb, level: level, mu: new(sync.Mutex), buf: new(bytes.Buffer)}
	h.text = slog.NewTextHandler(h.buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	return h
}

func (h *callbackHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *callbackHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	h.buf.Reset()
	err := h.text.Handle(ctx, r)
	line := string(bytes.TrimSuffix(h.buf.Bytes(), []byte{'\n'}))
	h.mu.Unlock()
	if err != nil {
		return err
	}
	h.cb.Log(int(r.Level), line)
	return nil
}

func (h *callbackHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(as)
	return &c
}

func (h *callbackHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}
