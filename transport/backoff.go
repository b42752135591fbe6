package transport

import (
	"math/rand/v2"
	"time"
)

// Reconnection delays: doubling from backoffBase up to backoffMax.
const (
	backoffBase = 25 * time.Millisecond
	backoffMax  = 2 * time.Second
)

// backoff computes reconnection delays: exponential with "equal jitter"
// (half fixed, half random), so peers that lost each other at the same
// moment do not retry in lockstep. Not safe for concurrent use; each sender
// goroutine owns one.
type backoff struct {
	base, max time.Duration
	attempt   int
}

// next returns the delay before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	delay := b.max
	if b.attempt < 30 {
		delay = min(b.base<<b.attempt, b.max)
	}
	b.attempt++
	half := delay / 2
	return half + rand.N(half+1)
}

// reset starts over after a success.
func (b *backoff) reset() { b.attempt = 0 }
