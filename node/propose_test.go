package node

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestProposalSizeBound: a command over MaxProposalBytes is refused
// before it reaches the log, and a negative MaxProposalBytes bounds
// nothing (for an embedder that bounds its commands itself).
func TestProposalSizeBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 1, 1000)
		cluster.stop(1)
		bounded := cluster.config(1)
		bounded.MaxProposalBytes = 64
		cluster.startWith(bounded)
		leader := cluster.leader(ctx)
		large := append(add(1), make([]byte, 92)...) // 100 bytes; the counter reads the first 8
		if _, err := leader.Propose(ctx, large); err == nil {
			t.Fatal("a 100-byte command was accepted with MaxProposalBytes 64")
		}
		if _, err := leader.Propose(ctx, add(2)); err != nil {
			t.Fatalf("an 8-byte command with MaxProposalBytes 64: %v", err)
		}
		cluster.stop(1)
		unbounded := cluster.config(1)
		unbounded.MaxProposalBytes = -1
		cluster.startWith(unbounded)
		leader = cluster.leader(ctx)
		if _, err := leader.Propose(ctx, large); err != nil {
			t.Fatalf("a 100-byte command with no bound: %v", err)
		}
		// The refused command never reached the log: the restarted
		// counter replays the 2, then adds the 1.
		cluster.waitForValue(ctx, 1, 3)
	})
}
