package transport

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logLimiter keeps a misbehaving peer from flooding the log: each reason
// is logged at most once per logInterval, with the number of occurrences
// left out since. Safe for concurrent use; the zero value is ready.
type logLimiter struct {
	mu      sync.Mutex
	reasons map[string]*limitedReason
}

type limitedReason struct {
	last       time.Time
	suppressed int
}

const logInterval = time.Second

func (l *logLimiter) log(logger *slog.Logger, reason string, level slog.Level, message string, attributes ...any) {
	l.mu.Lock()
	if l.reasons == nil {
		l.reasons = make(map[string]*limitedReason)
	}
	state := l.reasons[reason]
	if state == nil {
		state = &limitedReason{}
		l.reasons[reason] = state
	}
	now := time.Now()
	if !state.last.IsZero() && now.Sub(state.last) < logInterval {
		state.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := state.suppressed
	state.last, state.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		attributes = append(attributes, "suppressed", suppressed)
	}
	logger.Log(context.Background(), level, message, attributes...)
}
