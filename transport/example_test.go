package transport_test

import (
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/transport"
)

// Two nodes on loopback: node 1 sends a heartbeat to node 2.
func Example() {
	received := make(chan raft.Message, 16)
	start := func(id raft.NodeID) *transport.Transport {
		t, err := transport.New(transport.Config{ID: id, ClusterID: 42, ListenAddress: "127.0.0.1:0"})
		if err != nil {
			panic(err)
		}
		// The handler runs on transport goroutines: hand messages over, do
		// not process them here.
		if err := t.Start(func(m raft.Message) { received <- m }); err != nil {
			panic(err)
		}
		return t
	}
	one, two := start(1), start(2)
	defer one.Stop()
	defer two.Stop()
	one.SetPeer(2, two.Addr().String())
	two.SetPeer(1, one.Addr().String())

	one.Send([]raft.Message{{Type: raft.MessageHeartbeat, From: 1, To: 2, Term: 3, Commit: 10}})
	fmt.Println(<-received)
	// Output: Heartbeat 1->2 term=3 commit=10
}
