package raft

import "fmt"

// replicationState is how a leader replicates to one follower.
type replicationState uint8

const (
	// stateProbe: the leader does not know where the follower's log
	// matches its own. It sends one append at a time and waits for the
	// answer (or the next heartbeat response) before sending another.
	stateProbe replicationState = iota
	// stateReplicate: the logs are known to match up to Match. The leader
	// streams appends without waiting (pipelining), optimistically
	// advancing Next, within the inflight limits.
	stateReplicate
	// stateSnapshot: the follower needs entries the leader compacted; a
	// snapshot is on its way and nothing else is sent until it is
	// acknowledged (or presumed lost).
	stateSnapshot
)

func (s replicationState) String() string {
	switch s {
	case stateReplicate:
		return "replicate"
	case stateSnapshot:
		return "snapshot"
	}
	return "probe"
}

// progress is the leader's view of one member (Raft Figure 2, "Volatile
// state on leaders": nextIndex and matchIndex), plus flow control.
type progress struct {
	// match is the highest index known to be durably replicated on the
	// member; for the leader itself, the last index of its durable log.
	match uint64
	// next is the index of the next entry to send.
	next  uint64
	state replicationState
	// probeSent is true in stateProbe while an append is unanswered.
	probeSent bool
	// recentActive is set by any message from the member and cleared by
	// each CheckQuorum round.
	recentActive bool
	inflights    *inflights
	// pendingSnapshot is the index of the snapshot sent in stateSnapshot,
	// and snapshotSentTick the leader's clock when it was sent, to resend
	// it if it seems lost.
	pendingSnapshot  uint64
	snapshotSentTick uint64
	// leaseTick is the leader's clock at the latest heartbeat the member
	// acknowledged.
	leaseTick uint64
	// held counts the entries waiting for this member while its window
	// for small appends is full (Config.MaxInflightSmallAppends).
	held heldEntries
}

// heldEntries is the size of the entries from next through through, as
// counted while they waited, so that each Ready counts only the entries
// appended since the one before (and sizes nothing it does not send).
type heldEntries struct {
	next, through, bytes uint64
}

func newProgress(next uint64, maxInflight int, maxInflightBytes uint64) *progress {
	return &progress{next: next, inflights: newInflights(maxInflight, maxInflightBytes)}
}

func (p *progress) String() string {
	return fmt.Sprintf("%s match=%d next=%d inflight=%d", p.state, p.match, p.next, p.inflights.count)
}

func (p *progress) becomeProbe() {
	p.state = stateProbe
	p.probeSent = false
	p.next = p.match + 1
	p.inflights.reset()
}

func (p *progress) becomeSnapshot(index, tick uint64) {
	p.state = stateSnapshot
	p.pendingSnapshot = index
	p.snapshotSentTick = tick
	p.inflights.reset()
}

func (p *progress) becomeReplicate() {
	p.state = stateReplicate
	p.next = p.match + 1
	p.inflights.reset()
}

// isPaused reports whether the leader must hold back appends that carry
// entries: it waits for a probe's answer, or the pipeline is full.
func (p *progress) isPaused() bool {
	switch p.state {
	case stateProbe:
		return p.probeSent
	case stateSnapshot:
		return true
	}
	return p.inflights.full()
}

// sentEntries records that an append ending at lastIndex, carrying bytes
// of entries, was sent.
func (p *progress) sentEntries(count int, lastIndex, bytes uint64) {
	switch p.state {
	case stateReplicate:
		if count > 0 {
			p.next = lastIndex + 1
			p.inflights.add(lastIndex, bytes)
		}
	case stateProbe:
		p.probeSent = true
	}
}

// acknowledge records a successful append response for index. It returns
// false if the response is stale (it tells nothing new).
func (p *progress) acknowledge(index uint64) bool {
	if index <= p.match {
		// An old or duplicated response may still free pipeline slots.
		p.inflights.freeUpTo(index)
		return false
	}
	p.match = index
	p.next = max(p.next, index+1)
	p.probeSent = false
	p.inflights.freeUpTo(index)
	return true
}

// rejected handles an append rejection for rejectedIndex, with the
// follower's hint already mapped into our log as nextGuess (the first index
// that might not match). It returns false if the rejection is stale.
func (p *progress) rejected(rejectedIndex, nextGuess uint64) bool {
	if p.state == stateSnapshot {
		return false // answers an append sent before the snapshot
	}
	if p.state == stateReplicate {
		// In the pipeline, only a rejection of something at or beyond
		// what we know matches says anything; earlier ones are stale.
		if rejectedIndex <= p.match {
			return false
		}
		p.becomeProbe()
		p.next = max(p.match+1, min(nextGuess, rejectedIndex))
		return true
	}
	// In probe only the answer to the outstanding probe (sent at next-1)
	// counts.
	if p.next-1 != rejectedIndex {
		return false
	}
	p.next = max(p.match+1, min(nextGuess, rejectedIndex))
	p.probeSent = false
	return true
}

// inflights is a bounded window of appends sent to one follower and not
// yet acknowledged: a ring of their last indexes and byte sizes.
type inflights struct {
	lastIndexes []uint64
	sizes       []uint64
	start       int
	count       int
	bytes       uint64
	maxBytes    uint64
}

func newInflights(capacity int, maxBytes uint64) *inflights {
	return &inflights{lastIndexes: make([]uint64, capacity), sizes: make([]uint64, capacity), maxBytes: maxBytes}
}

func (in *inflights) full() bool {
	return in.count == len(in.lastIndexes) || (in.maxBytes > 0 && in.bytes >= in.maxBytes)
}

func (in *inflights) add(lastIndex, bytes uint64) {
	if in.count == len(in.lastIndexes) {
		panic("raft: inflight window overflow")
	}
	slot := (in.start + in.count) % len(in.lastIndexes)
	in.lastIndexes[slot] = lastIndex
	in.sizes[slot] = bytes
	in.count++
	in.bytes += bytes
}

// freeUpTo frees every append whose last index is at most index.
func (in *inflights) freeUpTo(index uint64) {
	for in.count > 0 && in.lastIndexes[in.start] <= index {
		in.bytes -= in.sizes[in.start]
		in.start = (in.start + 1) % len(in.lastIndexes)
		in.count--
	}
	if in.count == 0 {
		in.start = 0
	}
}

// freeFirst frees the oldest append: used when a heartbeat response shows
// the follower is alive but the window is full, so that a lost append
// cannot stall replication forever.
func (in *inflights) freeFirst() {
	if in.count > 0 {
		in.freeUpTo(in.lastIndexes[in.start])
	}
}

func (in *inflights) reset() {
	in.start, in.count, in.bytes = 0, 0, 0
}
