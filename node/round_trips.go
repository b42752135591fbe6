package node

import (
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// roundTrips times the leader's heartbeats to each peer until their
// answers, for Config.ObservePeerRoundTrip: the time a message takes to
// reach a peer's loop and come back, network and both transports
// included. Owned by the loop goroutine.
type roundTrips struct {
	observe func(peer raft.NodeID, elapsed time.Duration)
	// lost is how long a heartbeat waits for its answer before the next
	// one replaces it: one election timeout. A peer that does not answer
	// within it is cut off, not slow, and a heartbeat answered after it
	// would time the outage.
	lost time.Duration
	// sent holds, per peer, when the oldest heartbeat not answered yet
	// left.
	sent map[raft.NodeID]time.Time
}

// newRoundTrips returns the timer of a node's heartbeats; nil (timing
// nothing) without observe.
func newRoundTrips(observe func(raft.NodeID, time.Duration), lost time.Duration) *roundTrips {
	if observe == nil {
		return nil
	}
	return &roundTrips{observe: observe, lost: lost, sent: map[raft.NodeID]time.Time{}}
}

// leaving notes the heartbeats among messages, which are being sent now.
func (r *roundTrips) leaving(messages []raft.Message) {
	if r == nil {
		return
	}
	var now time.Time
	for i := range messages {
		if messages[i].Type != raft.MessageHeartbeat {
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		if sent, waiting := r.sent[messages[i].To]; !waiting || now.Sub(sent) > r.lost {
			r.sent[messages[i].To] = now
		}
	}
}

// arrived observes the round trip that message, just received, ends: a
// heartbeat's answer.
func (r *roundTrips) arrived(message raft.Message) {
	if r == nil || message.Type != raft.MessageHeartbeatResponse {
		return
	}
	sent, waiting := r.sent[message.From]
	if !waiting {
		return
	}
	delete(r.sent, message.From)
	if elapsed := time.Since(sent); elapsed <= r.lost {
		r.observe(message.From, elapsed)
	}
}
