package node

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// reportingTransport is a Transport that reports unreachable peers when
// the test says so, as transport.Transport does when a stream breaks.
type reportingTransport struct {
	Transport
	report func(raft.NodeID)
}

func (r *reportingTransport) OnUnreachable(report func(raft.NodeID)) { r.report = report }

// A report of an unreachable peer reaches the core: the leader stops
// pipelining to that follower and probes it.
func TestUnreachablePeerIsReportedToTheCore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := &testCluster{t: t, network: NewLocalNetwork(), disk: vfs.NewMemFS(), nodes: map[raft.NodeID]*Node{},
			machines: map[raft.NodeID]*counter{}, peers: map[raft.NodeID]string{}, snapshot: 1000}
		transports := map[raft.NodeID]*reportingTransport{}
		for i := 1; i <= 3; i++ {
			cluster.peers[raft.NodeID(i)] = fmt.Sprintf("node-%d", i)
		}
		for id := range cluster.peers {
			config := cluster.config(id)
			transports[id] = &reportingTransport{Transport: config.Transport}
			config.Transport = transports[id]
			cluster.startWith(config)
		}
		t.Cleanup(cluster.stopAll)
		leader := cluster.leader(ctx)
		if _, err := leader.Propose(ctx, add(1)); err != nil {
			t.Fatal(err)
		}
		id := leader.config.ID
		follower := id%3 + 1
		if transports[id].report == nil {
			t.Fatal("Start did not hand the transport a report function")
		}
		// Propose returned once a majority held the command: the
		// follower may not have answered yet. Wait until the leader
		// pipelines to it.
		for attempt := 0; ; attempt++ {
			status, err := leader.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if status.Followers[follower].Replicating {
				break
			}
			if attempt == 100 {
				t.Fatalf("follower %d is %+v before the report, want replicating", follower, status.Followers[follower])
			}
			time.Sleep(10 * time.Millisecond) // one tick of virtual time
		}
		// The stream to the follower breaks: nothing reaches it any more.
		// Its answers to what reached it before are let in first: an
		// append's acknowledgement arriving after the report would rightly
		// put the leader back to pipelining (it flaked 8 times in 1,000
		// under -race).
		cluster.network.Cut(id, follower)
		synctest.Wait()
		transports[id].report(follower)
		for range 100 {
			status, err := leader.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !status.Followers[follower].Replicating {
				return
			}
			time.Sleep(10 * time.Millisecond) // one tick of virtual time
		}
		t.Fatalf("the leader still pipelines to unreachable follower %d", follower)
	})
}
