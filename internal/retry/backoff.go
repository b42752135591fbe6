// Package retry paces the retries of work that keeps failing on the same
// input, such as reading a damaged snapshot file for every follower that
// asks for it.
package retry

import (
	"cmp"
	"sync"
	"time"
)

// The delays of a Backoff: the first after a failure, and the cap.
const (
	FirstDelay = time.Second
	LastDelay  = time.Minute
)

// Backoff remembers the key that failed last and when it may be tried
// again: FirstDelay after its first failure, twice as long after each
// further one, up to LastDelay (or First and Last, if set). Any other key
// may be tried at once, and a success forgets the failure. The zero value
// is ready; it is safe for concurrent use.
type Backoff[K comparable] struct {
	// First and Last, if not zero, replace FirstDelay and LastDelay: set
	// them before the first use.
	First, Last time.Duration

	mu      sync.Mutex
	key     K
	failing bool
	retryAt time.Time
	delay   time.Duration
}

// Wait returns how long key must still wait before it is tried again:
// zero if it may be tried now.
func (b *Backoff[K]) Wait(key K) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.failing || b.key != key {
		return 0
	}
	return max(time.Until(b.retryAt), 0)
}

// Failed records a failure of key and returns the delay before its next
// try.
func (b *Backoff[K]) Failed(key K) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failing && b.key == key {
		b.delay = min(2*b.delay, cmp.Or(b.Last, LastDelay))
	} else {
		b.key, b.failing, b.delay = key, true, cmp.Or(b.First, FirstDelay)
	}
	b.retryAt = time.Now().Add(b.delay)
	return b.delay
}

// Succeeded records a success of key, forgetting its failures; it says
// whether key had failed before.
func (b *Backoff[K]) Succeeded(key K) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.failing || b.key != key {
		return false
	}
	var zero K
	b.key, b.failing, b.delay = zero, false, 0
	return true
}
