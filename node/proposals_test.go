package node

import (
	"context"
	"errors"
	"slices"
	"sync"
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
// called (or the test ends, so that a failing test does not leave the
// loop held): proposals queue meanwhile.
func holdLoop(ctx context.Context, t *testing.T, n *Node) (release func()) {
	t.Helper()
	held := make(chan struct{})
	go n.do(ctx, func() { <-held })
	synctest.Wait() // the loop is inside the request
	release = sync.OnceFunc(func() { close(held) })
	t.Cleanup(release)
	return release
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

// Proposals still queued when the node stops are answered ErrStopped
// (whether the loop took them in its last pass or not).
func TestQueuedProposalsAnsweredWhenTheNodeStops(t *testing.T) {
	withLeaderOfThree(t, func(t *testing.T, ctx context.Context, cluster *testCluster, leader *Node) {
		release := holdLoop(ctx, t, leader)
		answered := make(chan error, 3)
		for i := uint64(1); i <= 3; i++ {
			go func() {
				_, err := leader.Propose(ctx, add(i))
				answered <- err
			}()
		}
		synctest.Wait()
		go leader.Stop()
		synctest.Wait() // stopping, behind the held request
		release()
		for range 3 {
			if err := <-answered; !errors.Is(err, ErrStopped) {
				t.Fatalf("a proposal queued when the node stopped: %v, want ErrStopped", err)
			}
		}
	})
}

// A leader cut off from the others appends proposals that they never
// see; once it leads again, its new entries take the same indexes. The
// callers of the lost entries are told their commands were dropped, and
// none is left waiting (the newer proposal at its index took its place
// in the waiters before, and it was never answered).
func TestProposalsLostWithALeadershipAreAnsweredDropped(t *testing.T) {
	withLeaderOfThree(t, func(t *testing.T, ctx context.Context, cluster *testCluster, old *Node) {
		if _, err := old.Propose(ctx, add(1)); err != nil {
			t.Fatal(err)
		}
		cluster.network.Isolate(old.config.ID)
		lost := make(chan error, 3)
		for i := uint64(1); i <= 3; i++ {
			go func() {
				_, err := old.Propose(ctx, add(100*i))
				lost <- err
			}()
		}
		synctest.Wait() // appended by the cut-off leader alone
		delete(cluster.nodes, old.config.ID)
		other := cluster.leader(ctx)
		cluster.nodes[old.config.ID] = old
		cluster.network.Heal()
		if err := old.Read(ctx); err != nil { // it follows the new leader
			t.Fatal(err)
		}
		for {
			err := other.TransferLeadership(ctx, old.config.ID)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrTransferAbandoned) || ctx.Err() != nil {
				t.Fatal(err)
			}
		}
		for range 5 {
			if _, err := old.Propose(ctx, add(2)); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			select {
			case err := <-lost:
				if !errors.Is(err, ErrDropped) {
					t.Fatalf("a proposal lost with the first leadership: %v, want ErrDropped", err)
				}
			case <-time.After(time.Second): // simulated
				t.Fatal("a proposal lost with the first leadership was never answered")
			}
		}
		if got := cluster.machines[old.config.ID].value(); got != 11 {
			t.Fatalf("machine holds %d, want 11 (1 and five 2s, none of the lost commands)", got)
		}
	})
}
