package node

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// A leader whose state machine stops taking writes (kv's Pebble does, for
// up to a second, while its compactions catch up) keeps leading: the loop
// hands committed entries to the applier and goes on ticking and sending
// heartbeats. With the applies on the loop, the followers heard nothing
// for an election timeout and elected another leader.
func TestStalledMachineKeepsItsLeadership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 1000)
		leader := cluster.leader(ctx)
		if _, err := leader.Propose(ctx, add(1)); err != nil {
			t.Fatal(err)
		}
		before, err := leader.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		release := cluster.machines[leader.config.ID].hold()
		defer release()
		answered := make(chan error, 1)
		go func() {
			result, err := leader.Propose(ctx, add(2))
			if err == nil && result.(uint64) != 3 {
				err = errors.New("wrong result")
			}
			answered <- err
		}()
		// Ten election timeouts pass with the leader's machine stalled.
		time.Sleep(10 * leader.electionTimeout())
		select {
		case err := <-answered:
			t.Fatalf("proposal answered while the machine could not apply it: %v", err)
		default:
		}
		for id, n := range cluster.nodes {
			status, err := n.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if status.Term != before.Term || status.Leader != leader.config.ID {
				t.Fatalf("node %d: term %d, leader %d; want term %d under leader %d still", id, status.Term, status.Leader, before.Term, leader.config.ID)
			}
			if id != leader.config.ID {
				cluster.waitForValue(ctx, id, 3) // committed, and applied where machines run
			}
		}
		if status, _ := leader.Status(ctx); status.Applied >= status.Commit {
			t.Fatalf("leader reports applied %d with commit %d, while its machine is stalled", status.Applied, status.Commit)
		}
		release()
		if err := <-answered; err != nil {
			t.Fatal(err)
		}
		if got := cluster.machines[leader.config.ID].value(); got != 3 {
			t.Fatalf("leader holds %d, want 3", got)
		}
	})
}

// A read on a follower whose machine is behind returns only once the
// machine has applied the read index: the loop knows the entry is
// committed and handed over, but the machine is what the caller reads.
func TestReadWaitsForTheMachine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 1000)
		leader := cluster.leader(ctx)
		var follower raft.NodeID
		for id := range cluster.nodes {
			if id != leader.config.ID {
				follower = id
			}
		}
		release := cluster.machines[follower].hold()
		defer release()
		if _, err := leader.Propose(ctx, add(5)); err != nil {
			t.Fatal(err)
		}
		read := make(chan error, 1)
		go func() { read <- cluster.nodes[follower].Read(ctx) }()
		time.Sleep(10 * leader.electionTimeout())
		select {
		case err := <-read:
			t.Fatalf("read returned (%v) before the follower's machine applied the write", err)
		default:
		}
		release()
		if err := <-read; err != nil {
			t.Fatal(err)
		}
		if got := cluster.machines[follower].value(); got != 5 {
			t.Fatalf("follower read sees %d, want 5", got)
		}
	})
}

// The applier's backlog is bounded: once maxApplyBacklog commands wait,
// proposers wait for room (until their context ends), and the room opens
// when the machine catches up. Applies queued behind a slow one are applied
// in one call, in order, each proposer answered with its own result. Stop
// drops the jobs still queued.
func TestApplierBacklogHoldsProposalsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		machine := &counter{}
		a := newApplier(machine, nil, 0)
		go a.run()
		commands := func(first uint64, count int) []Entry {
			entries := make([]Entry, count)
			for i := range entries {
				entries[i] = Entry{Index: first + uint64(i), Term: 1, Command: add(1)}
			}
			return entries
		}
		answered := func() (*waiter, answer) {
			waiting := &waiter{term: 1, done: make(chan outcome, 1)}
			return waiting, answer{waiting: waiting, result: 0}
		}
		release := machine.hold()
		a.post(applyJob{commands: commands(1, 1), lastIndex: 1})
		synctest.Wait() // the applier is in Apply, held
		a.post(applyJob{commands: commands(2, maxApplyBacklog-3), lastIndex: maxApplyBacklog - 2})
		if err := a.waitForRoom(context.Background()); err != nil {
			t.Fatalf("below the bound: %v", err)
		}
		first, firstAnswer := answered()
		a.post(applyJob{commands: commands(maxApplyBacklog-1, 1), answers: []answer{firstAnswer}, lastIndex: maxApplyBacklog - 1})
		second, secondAnswer := answered()
		a.post(applyJob{commands: commands(maxApplyBacklog, 1), answers: []answer{secondAnswer}, lastIndex: maxApplyBacklog + 1})
		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := a.waitForRoom(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("at the bound: %v, want the context's deadline", err)
		}
		if got := a.applied.Load(); got != 0 {
			t.Fatalf("applied %d while the machine is held, want 0", got)
		}
		release()
		if err := a.waitForRoom(context.Background()); err != nil {
			t.Fatalf("after the machine caught up: %v", err)
		}
		if err := a.drain(make(chan struct{})); err != nil {
			t.Fatal(err)
		}
		if got := (<-first.done).result; got != uint64(maxApplyBacklog-1) {
			t.Fatalf("first proposer got %v, want %d", got, maxApplyBacklog-1)
		}
		if got := (<-second.done).result; got != uint64(maxApplyBacklog) {
			t.Fatalf("second proposer got %v, want %d", got, maxApplyBacklog)
		}
		// One Apply for the first job, one for the three queued behind it.
		if machine.calls != 2 || a.applied.Load() != maxApplyBacklog+1 {
			t.Fatalf("%d Apply calls, applied %d; want 2 and %d", machine.calls, a.applied.Load(), maxApplyBacklog+1)
		}
		// A stalled job holds the rest; Stop waits for the one running and
		// drops those queued behind it.
		stalled := make(chan struct{})
		a.post(applyJob{do: func() { <-stalled }})
		a.post(applyJob{do: func() { t.Error("a job queued at Stop ran") }})
		synctest.Wait()
		stopped := make(chan struct{})
		go func() { a.stop(); close(stopped) }()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("stop returned while a job was running")
		default:
		}
		close(stalled)
		<-stopped
	})
}
