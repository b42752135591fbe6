package transport

import (
	"net"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// A peer nobody listens for is reported unreachable, to the function
// OnUnreachable set, each time its stream cannot be opened, and each
// failure is counted in its stats.
func TestUnreachablePeerIsReported(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close() // nothing listens there now
	reports := make(chan raft.NodeID, 16)
	node := startNodeBefore(t, 1, nil, func(transport *Transport) {
		transport.OnUnreachable(func(id raft.NodeID) {
			select {
			case reports <- id:
			default:
			}
		})
	})
	node.SetPeer(2, address)
	node.Send([]raft.Message{{Type: raft.MessageHeartbeat, From: 1, To: 2, Term: 1}})
	select {
	case id := <-reports:
		if id != 2 {
			t.Fatalf("node %d reported unreachable, want 2", id)
		}
	case <-deadline(t).Done():
		t.Fatal("the unreachable peer was never reported")
	}
	// The count is taken before the report, so it covers it.
	if failures := node.Stats().Peers[2].StreamFailures; failures == 0 {
		t.Fatal("a failed stream to the peer was reported but not counted")
	}
}
