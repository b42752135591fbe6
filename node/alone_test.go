package node

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestRestartAloneAppliesCommitted restarts one member of a stopped
// cluster without the others: it applies the entries its log records as
// committed without a leader (what disaster recovery relies on before a
// backup of a survivor; see docs/operations.md).
func TestRestartAloneAppliesCommitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 1000)
		leader := cluster.leader(ctx)
		for i := 1; i <= 10; i++ {
			if _, err := leader.Propose(ctx, add(uint64(i))); err != nil {
				t.Fatal(err)
			}
		}
		// One more write, so that the leader's earlier commits reach the
		// followers' durable hard state with the entries that carry them.
		if _, err := leader.Propose(ctx, add(0)); err != nil {
			t.Fatal(err)
		}
		for id := range cluster.peers {
			cluster.stop(id)
		}
		var follower = leader.config.ID%3 + 1
		cluster.start(follower, false)
		time.Sleep(time.Second) // simulated: ten election timeouts alone
		synctest.Wait()
		if got := cluster.machines[follower].value(); got != 55 {
			t.Fatalf("node %d restarted alone applied a total of %d, want 55", follower, got)
		}
	})
}
