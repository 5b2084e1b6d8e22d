package etcdstore

import (
	"context"
	"log/slog"

	"go.uber.org/zap/zapcore"
)

// slogCore hands the etcd client's zap log entries of level warn and above
// to the store's slog.Logger, so that the client's complaints (an
// unreachable member, a retried request) reach the home agent's log.
type slogCore struct {
	log *slog.Logger
}

func newSlogCore(log *slog.Logger) zapcore.Core {
	return slogCore{log: log.With("from", "etcd client")}
}

// Enabled passes warnings and errors.
func (c slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.WarnLevel }

// With adds fields to every entry.
func (c slogCore) With(fields []zapcore.Field) zapcore.Core {
	return slogCore{log: c.log.With(attrs(fields)...)}
}

// Check adds the core to an entry it is enabled for.
func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write logs one entry.
func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	lvl := slog.LevelWarn
	if e.Level >= zapcore.ErrorLevel {
		lvl = slog.LevelError
	}
	c.log.Log(context.Background(), lvl, e.Message, attrs(fields)...)
	return nil
}

// Sync has nothing to flush.
func (c slogCore) Sync() error { return nil }

func attrs(fields []zapcore.Field) []any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		out = append(out, slog.Any(k, v))
	}
	return out
}
