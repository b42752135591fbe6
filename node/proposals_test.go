package node

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// withLeaderOfThree runs body in a synctest bubble on a 3-node test
// cluster, once it has a leader, with a minute of simulated time.
func withLeaderOfThree(t *testing.T, body func(t *testing.T, ctx context.Context, cluster *testCluster, leader *Node)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 1000)
		body(t, ctx, cluster, cluster.leader(ctx))
	})
}

// holdLoop keeps n's loop busy in a request until the returned release is
// called: proposals queue meanwhile.
func holdLoop(ctx context.Context, t *testing.T, n *Node) (release func()) {
	t.Helper()
	held := make(chan struct{})
	go n.do(ctx, func() { <-held })
	synctest.Wait() // the loop is inside the request
	return func() { close(held) }
}

// Proposals queued while the loop is busy are all proposed, in the order
// they were queued, once it takes them: each caller gets its own entry
// applied.
func TestQueuedProposalsAreAllProposedInOrder(t *testing.T) {
	withLeaderOfThree(t, func(t *testing.T, ctx context.Context, cluster *testCluster, leader *Node) {
		release := holdLoop(ctx, t, leader)
		const proposals = 50
		answered := make(chan error, proposals)
		for i := uint64(1); i <= proposals; i++ {
			go func() {
				_, err := leader.Propose(ctx, add(i))
				answered <- err
			}()
			synctest.Wait() // queued before the next one
		}
		if queued := len(leader.proposals.queued); queued != proposals {
			t.Fatalf("%d proposals queued while the loop was held, want %d", queued, proposals)
		}
		release()
		for range proposals {
			if err := <-answered; err != nil {
				t.Fatal(err)
			}
		}
		var want []uint64
		for i := uint64(1); i <= proposals; i++ {
			want = append(want, i)
		}
		if applied := cluster.machines[leader.config.ID].applied(); !slices.Equal(applied, want) {
			t.Fatalf("applied %v, want %v", applied, want)
		}
	})
}

// A caller whose context ends while its proposal is still queued takes it
// back: it is told the context's error (not ErrMaybeCommitted, since the
// command will certainly not apply), and the loop never proposes it.
func TestProposalWithdrawnBeforeTheLoopTakesIt(t *testing.T) {
	withLeaderOfThree(t, func(t *testing.T, ctx context.Context, cluster *testCluster, leader *Node) {
		if _, err := leader.Propose(ctx, add(1)); err != nil {
			t.Fatal(err)
		}
		before, err := leader.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		release := holdLoop(ctx, t, leader)
		// Held for less than an election timeout, so that it still leads.
		short, cancelShort := context.WithTimeout(ctx, leader.config.TickInterval)
		defer cancelShort()
		if _, err := leader.Propose(short, add(100)); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrMaybeCommitted) {
			t.Fatalf("proposal withdrawn while queued: %v, want the context's deadline alone", err)
		}
		release()
		if _, err := leader.Propose(ctx, add(2)); err != nil {
			t.Fatal(err)
		}
		after, err := leader.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after.LastIndex != before.LastIndex+1 {
			t.Fatalf("last index %d after one more proposal, want %d: the withdrawn one was appended", after.LastIndex, before.LastIndex+1)
		}
		if applied := cluster.machines[leader.config.ID].applied(); !slices.Equal(applied, []uint64{1, 2}) {
			t.Fatalf("applied %v, want [1 2]", applied)
		}
	})
}

// A caller whose context ends after the loop took its proposal cannot
// take it back: it is told the command may still apply, and it does.
func TestProposalTakenCannotBeWithdrawn(t *testing.T) {
	withLeaderOfThree(t, func(t *testing.T, ctx context.Context, cluster *testCluster, leader *Node) {
		release := cluster.machines[leader.config.ID].hold()
		short, cancelShort := context.WithTimeout(ctx, time.Second)
		defer cancelShort()
		if _, err := leader.Propose(short, add(7)); !errors.Is(err, ErrMaybeCommitted) {
			t.Fatalf("proposal whose caller gave up while it applied: %v, want ErrMaybeCommitted", err)
		}
		release()
		cluster.waitForValue(ctx, leader.config.ID, 7)
	})
}

// A follower's core refuses a proposal: the refusal reaches the caller
// through the queue, naming the leader.
func TestQueuedProposalRefusedOnAFollower(t *testing.T) {
	withLeaderOfThree(t, func(t *testing.T, ctx context.Context, cluster *testCluster, leader *Node) {
		follower := cluster.nodes[leader.config.ID%3+1]
		var notLeader *NotLeaderError
		if _, err := follower.Propose(ctx, add(1)); !errors.As(err, &notLeader) || notLeader.Leader != leader.config.ID {
			t.Fatalf("proposal on a follower: %v, want NotLeaderError naming %v", err, leader.config.ID)
		}
	})
}
