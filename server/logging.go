package server

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// termHandler adds the member's current Raft term to every record, so a
// log line says which term it happened in without every caller passing it.
type termHandler struct {
	inner slog.Handler
	term  *atomic.Uint64
}

func (h termHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h termHandler) Handle(ctx context.Context, record slog.Record) error {
	hasTerm := false
	record.Attrs(func(attr slog.Attr) bool {
		hasTerm = attr.Key == "term"
		return !hasTerm
	})
	if !hasTerm { // the runtime's own records may carry the term already
		record.AddAttrs(slog.Uint64("term", h.term.Load()))
	}
	return h.inner.Handle(ctx, record)
}

func (h termHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return termHandler{inner: h.inner.WithAttrs(attrs), term: h.term}
}

func (h termHandler) WithGroup(name string) slog.Handler {
	return termHandler{inner: h.inner.WithGroup(name), term: h.term}
}
