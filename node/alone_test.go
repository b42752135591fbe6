package node

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// TestRestartAloneAppliesCommitted restarts one member of a stopped
// cluster without the others: without a leader, it applies every entry its
// log records as committed. The record may trail what
// the member knew before it stopped, since a hard state that only moves
// the commit index is not written on its own.
func TestRestartAloneAppliesCommitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 1000)
		leader := cluster.leader(ctx)
		proposeAll(ctx, t, leader, 1, 10)
		follower := leader.config.ID%3 + 1
		// The follower's record of the commit index may trail by any
		// amount (it learns the last commits in commit-only hard states,
		// which are not written): have it stand for election once it
		// applied every add, so that a hard state with a new term, and
		// with the commit index it knows, is written. Otherwise the test
		// would, now and then, restart a node that records only the
		// first entry committed, and prove nothing.
		cluster.waitForValue(ctx, follower, 55)
		for {
			err := cluster.nodes[leader.config.ID].TransferLeadership(ctx, follower)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrTransferAbandoned) || ctx.Err() != nil {
				t.Fatal(err)
			}
		}
		for id := range cluster.peers {
			cluster.stop(id)
		}
		cluster.start(follower)
		time.Sleep(time.Second) // simulated: ten election timeouts alone
		synctest.Wait()
		status, err := cluster.nodes[follower].Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total := cluster.machines[follower].value()
		if status.Applied != status.Commit || status.Role == raft.RoleLeader {
			t.Fatalf("node %d alone: %+v; want everything committed applied, and no leader", follower, status)
		}
		// The entries are the first leader's empty entry, the ten adds,
		// then the follower's own empty entry as leader: the total is
		// the sum of the adds up to the commit index.
		adds := min(status.Commit-1, 10)
		if adds < 1 || total != adds*(adds+1)/2 {
			t.Fatalf("node %d alone: commit %d, total %d; want at least one add applied, and all up to the commit", follower, status.Commit, total)
		}
	})
}
