package node

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// roundTrip is one observation of roundTrips.
type roundTrip struct {
	peer    raft.NodeID
	elapsed time.Duration
}

// TestRoundTripsTimeHeartbeatsToTheirAnswers: each peer's answer ends the
// round trip of the oldest heartbeat it has not answered; other messages,
// answers with nothing pending, and answers later than an election
// timeout time nothing; a heartbeat unanswered that long is replaced.
func TestRoundTripsTimeHeartbeatsToTheirAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var observed []roundTrip
		trips := newRoundTrips(func(peer raft.NodeID, elapsed time.Duration) {
			observed = append(observed, roundTrip{peer, elapsed})
		}, time.Second)
		heartbeat := func(to raft.NodeID) raft.Message { return raft.Message{Type: raft.MessageHeartbeat, From: 1, To: to} }
		answer := func(from raft.NodeID) raft.Message {
			return raft.Message{Type: raft.MessageHeartbeatResponse, From: from, To: 1}
		}

		trips.leaving([]raft.Message{heartbeat(2), {Type: raft.MessageAppend, To: 3}, heartbeat(3)})
		time.Sleep(5 * time.Millisecond)
		trips.arrived(answer(2))
		trips.arrived(raft.Message{Type: raft.MessageAppendResponse, From: 3, To: 1})
		time.Sleep(2 * time.Millisecond)
		trips.arrived(answer(3))
		trips.arrived(answer(3)) // nothing pending: not timed

		trips.leaving([]raft.Message{heartbeat(2)})
		time.Sleep(100 * time.Millisecond)
		trips.leaving([]raft.Message{heartbeat(2)}) // the first still waits
		time.Sleep(50 * time.Millisecond)
		trips.arrived(answer(2))

		trips.leaving([]raft.Message{heartbeat(3)})
		time.Sleep(1100 * time.Millisecond)
		trips.leaving([]raft.Message{heartbeat(3)}) // the first is lost: replaced
		time.Sleep(4 * time.Millisecond)
		trips.arrived(answer(3))

		trips.leaving([]raft.Message{heartbeat(2)})
		time.Sleep(2 * time.Second)
		trips.arrived(answer(2)) // later than an election timeout: not timed

		want := []roundTrip{{2, 5 * time.Millisecond}, {3, 7 * time.Millisecond}, {2, 150 * time.Millisecond}, {3, 4 * time.Millisecond}}
		if !slices.Equal(observed, want) {
			t.Errorf("observed %v, want %v", observed, want)
		}
	})
	var none *roundTrips // without Config.ObservePeerRoundTrip
	none.leaving([]raft.Message{{Type: raft.MessageHeartbeat, To: 2}})
	none.arrived(raft.Message{Type: raft.MessageHeartbeatResponse, From: 2})
}
