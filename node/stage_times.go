package node

import (
	"sort"
	"time"
)

// ProposalTimes are the moments one proposal passed through the runtime on
// the leader that appended it, for a latency budget (Config.ObserveProposal).
// The leader writes in parallel with its followers and counts itself only
// once its own write is durable, but a quorum of followers may hold the
// entry first: then the entry commits, and may be applied, before the
// leader's write ends, and Persisted is zero (not yet durable when the
// proposal completed).
type ProposalTimes struct {
	// Submitted is when Propose was called.
	Submitted time.Time
	// Appended is when the loop took the proposal and the core appended it
	// to the leader's log (its appends to followers leave right after).
	Appended time.Time
	// Persisted is when the leader's own write of the entry (append and
	// fsync) was durable.
	Persisted time.Time
	// Committed is when the loop took the entry as committed: a quorum,
	// the leader included, holds it durably.
	Committed time.Time
	// Applied is when the state machine had applied it (on the applier's
	// goroutine, see applier); the caller is answered right after.
	Applied time.Time
}

// persistMark records that the leader's log was durable up to index at a
// moment.
type persistMark struct {
	index uint64
	at    time.Time
}

// queuedWrite is a write handed to the writer goroutine: durable once the
// writer reports its persist sequence, it holds the log up to lastIndex.
type queuedWrite struct {
	sequence, lastIndex uint64
}

// stageClock keeps what the loop needs to fill ProposalTimes: persist
// marks, in index order, and the writes queued to the writer goroutine that
// are not yet durable. Owned by the loop; unused (nil) unless
// Config.ObserveProposal is set.
type stageClock struct {
	marks []persistMark
	// queued are the writer's pending writes, in order.
	queued []queuedWrite
}

// wrote records a synchronous write of the log up to lastIndex.
func (c *stageClock) wrote(lastIndex uint64) {
	if c == nil || lastIndex == 0 {
		return
	}
	c.mark(lastIndex, time.Now())
}

// mark appends a persist mark, keeping the marks in index order: a write
// that ends below the last mark replaced a suffix of the log (a follower's
// conflicting entries), so the marks of the replaced entries go.
func (c *stageClock) mark(index uint64, at time.Time) {
	keep := sort.Search(len(c.marks), func(i int) bool { return c.marks[i].index >= index })
	c.marks = append(c.marks[:keep], persistMark{index: index, at: at})
}

// queuedWrite records an asynchronous write of the log up to lastIndex,
// durable once the writer reports sequence.
func (c *stageClock) queuedWrite(sequence, lastIndex uint64) {
	if c == nil || lastIndex == 0 {
		return
	}
	c.queued = append(c.queued, queuedWrite{sequence: sequence, lastIndex: lastIndex})
}

// durable records that the writer made every write up to sequence durable.
func (c *stageClock) durable(sequence uint64) {
	if c == nil {
		return
	}
	now := time.Now()
	done := 0
	for done < len(c.queued) && c.queued[done].sequence <= sequence {
		c.mark(c.queued[done].lastIndex, now)
		done++
	}
	c.queued = c.queued[done:]
}

// appliedUpTo forgets the marks below index: every entry below it has
// been applied, so none is waiting for its time. Called by every member's
// loop, so that followers, which answer no proposals, keep no marks.
func (c *stageClock) appliedUpTo(index uint64) {
	if c == nil {
		return
	}
	first := sort.Search(len(c.marks), func(i int) bool { return c.marks[i].index >= index })
	c.marks = c.marks[first:]
}

// persistedAt returns when the leader's log was first durable up to index,
// and forgets the marks below it (entries complete in index order).
func (c *stageClock) persistedAt(index uint64) time.Time {
	c.appliedUpTo(index)
	if len(c.marks) == 0 {
		return time.Time{}
	}
	return c.marks[0].at
}
