package node

import (
	"cmp"
	"context"
	"errors"
	"slices"
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
		cluster.expectLeaderKept(ctx, leader, before.Term)
		for id := range cluster.nodes {
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

// The applier's backlog is bounded: once applyBacklog.entries commands wait,
// proposers wait for room (until their context ends), and the room opens
// when the machine catches up. Applies queued behind a slow one are applied
// in one call, in order, each proposer answered with its own result. Stop
// drops the jobs still queued.
func TestApplierBacklogHoldsProposalsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		machine := &counter{}
		a := newApplier(machine, nil, 0)
		bound := uint64(applyBacklog.entries)
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
		a.post(applyJob{commands: commands(2, applyBacklog.entries-3), lastIndex: bound - 2})
		if err := a.waitForRoom(context.Background(), nil); err != nil {
			t.Fatalf("below the bound: %v", err)
		}
		first, firstAnswer := answered()
		a.post(applyJob{commands: commands(bound-1, 1), answers: []answer{firstAnswer}, lastIndex: bound - 1})
		second, secondAnswer := answered()
		a.post(applyJob{commands: commands(bound, 1), answers: []answer{secondAnswer}, lastIndex: bound + 1})
		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := a.waitForRoom(short, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("at the bound: %v, want the context's deadline", err)
		}
		if got := a.applied.Load(); got != 0 {
			t.Fatalf("applied %d while the machine is held, want 0", got)
		}
		release()
		if err := a.waitForRoom(context.Background(), nil); err != nil {
			t.Fatalf("after the machine caught up: %v", err)
		}
		if err := a.drain(make(chan struct{})); err != nil {
			t.Fatal(err)
		}
		if got := (<-first.done).result; got != uint64(applyBacklog.entries-1) {
			t.Fatalf("first proposer got %v, want %d", got, applyBacklog.entries-1)
		}
		if got := (<-second.done).result; got != uint64(applyBacklog.entries) {
			t.Fatalf("second proposer got %v, want %d", got, applyBacklog.entries)
		}
		// One Apply for the first job, one for the three queued behind it.
		if machine.calls != 2 || a.applied.Load() != bound+1 {
			t.Fatalf("%d Apply calls, applied %d; want 2 and %d", machine.calls, a.applied.Load(), bound+1)
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

// clusterWithAStalledFollower starts a 3-node cluster whose applyBacklog
// is lowered to backlog commands, and holds one follower's machine (slow)
// until release, which also runs when the test ends.
func clusterWithAStalledFollower(ctx context.Context, t *testing.T, backlog int) (cluster *testCluster, leader *Node, slow raft.NodeID, release func()) {
	lowerApplyBacklog(t, backlog)
	cluster = newTestCluster(t, 3, 1000)
	leader = cluster.leader(ctx)
	slow = leader.config.ID%3 + 1
	release = cluster.machines[slow].hold()
	t.Cleanup(release)
	return cluster, leader, slow, release
}

// lowerApplyBacklog sets applyBacklog for one test.
func lowerApplyBacklog(t *testing.T, entries int) {
	saved := applyBacklog
	applyBacklog = backlogBound{entries: entries, bytes: 1 << 30}
	t.Cleanup(func() { applyBacklog = saved })
}

// A leader whose machine is that far behind holds new proposals back
// before they reach the loop: nothing more is appended while the backlog
// is at its bound, and a proposer whose context ends meanwhile is told its
// proposal never left (not ErrMaybeCommitted).
func TestProposalsWaitForAStalledMachine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		leader, answered, release := leaderAtItsBacklog(ctx, t)
		defer release()
		before, err := leader.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		short, cancelShort := context.WithTimeout(ctx, time.Second)
		defer cancelShort()
		if _, err := leader.Propose(short, add(100)); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrMaybeCommitted) {
			t.Fatalf("proposal beyond the backlog: %v, want the context's deadline, before the loop", err)
		}
		if after, _ := leader.Status(ctx); after.LastIndex != before.LastIndex {
			t.Fatalf("the leader appended up to %d while its machine was %d commands behind (last index %d before)", after.LastIndex, applyBacklog.entries, before.LastIndex)
		}
		release()
		for i := 1; i <= 3; i++ {
			if err := <-answered; err != nil {
				t.Fatal(err)
			}
		}
		if _, err := leader.Propose(ctx, add(1)); err != nil {
			t.Fatalf("after the machine caught up: %v", err)
		}
	})
}

// leaderAtItsBacklog starts a 3-node cluster whose applyBacklog is three
// commands and returns its leader with three proposals committed and none
// applied: its machine is held until release. answered gets the three
// proposals' errors once they are answered.
func leaderAtItsBacklog(ctx context.Context, t *testing.T) (leader *Node, answered <-chan error, release func()) {
	t.Helper()
	lowerApplyBacklog(t, 3)
	cluster := newTestCluster(t, 3, 1000)
	leader = cluster.leader(ctx)
	release = cluster.machines[leader.config.ID].hold()
	results := make(chan error, 3)
	for i := 1; i <= 3; i++ {
		go func() {
			_, err := leader.Propose(ctx, add(1))
			results <- err
		}()
	}
	time.Sleep(leader.electionTimeout()) // the three commit; none applies
	synctest.Wait()
	return leader, results, release
}

// A proposer waiting for room on a leader that steps down is told at once
// that the node no longer leads (and who does, if it knows yet), as a
// follower's proposers are, instead of waiting for a machine that may stay
// stalled.
func TestProposerWaitingForRoomHearsOfTheNewLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		leader, answered, release := leaderAtItsBacklog(ctx, t)
		defer release()
		waiting := make(chan error, 1)
		go func() {
			_, err := leader.Propose(ctx, add(100))
			waiting <- err
		}()
		synctest.Wait()
		select {
		case err := <-waiting:
			t.Fatalf("a proposal beyond the backlog was answered at once: %v", err)
		default:
		}
		target := raft.NodeID(1)
		if target == leader.config.ID {
			target = 2
		}
		if err := leader.TransferLeadership(ctx, target); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-waiting:
			// It wakes when the leader steps down, which may be before
			// the leader hears who won the election.
			var notLeader *NotLeaderError
			if !errors.As(err, &notLeader) || (notLeader.Leader != raft.None && notLeader.Leader != target) {
				t.Fatalf("the waiting proposer got %v, want a NotLeaderError naming node %v or none", err, target)
			}
		case <-time.After(leader.electionTimeout()):
			t.Fatal("the waiting proposer still waits for the stalled machine of a leader that stepped down")
		}
		release()
		for i := 1; i <= 3; i++ {
			if err := <-answered; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// A follower's entries come from its leader, not through Propose: when its
// machine falls loopWaitFactor times the bound behind, its loop waits for
// the machine, so it stops taking entries (the backlog, and the memory it
// holds, stay bounded) while the others go on; once the machine catches
// up, so does the follower.
//
// The bound is checked after each Ready: one Ready may commit many
// entries at once (when the follower's writer lags its loop, it commits
// what it persisted in one go), so how far the follower gets before it
// stops depends on the schedule. What does not is that, once stopped, it
// takes nothing more however much the others go on.
func TestFollowerFarBehindHoldsItsLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster, leader, slow, release := clusterWithAStalledFollower(ctx, t, 2) // the loop waits at 4
		proposeAll(ctx, t, leader, 1, 30)
		time.Sleep(3 * leader.electionTimeout()) // heartbeats carry the commit index; the follower commits what it holds, and stops
		synctest.Wait()
		stopped := followerMatch(ctx, t, leader, slow)
		proposeAll(ctx, t, leader, 31, 60)
		time.Sleep(3 * leader.electionTimeout())
		synctest.Wait()
		if match := followerMatch(ctx, t, leader, slow); match != stopped {
			t.Fatalf("the stalled follower went on from entry %d to %d: its backlog has no bound", stopped, match)
		}
		release()
		cluster.waitForValue(ctx, slow, 60*61/2)
	})
}

// followerMatch is the last entry the leader knows follower to hold.
func followerMatch(ctx context.Context, t *testing.T, leader *Node, follower raft.NodeID) uint64 {
	t.Helper()
	status, err := leader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return status.Followers[follower].Match
}

// A snapshot from the leader replaces a follower's machine only after the
// machine has done what was handed to it before: an Apply still running
// when the snapshot arrives would otherwise land on top of the restored
// state.
func TestSnapshotInstallWaitsForTheMachine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 5) // a snapshot every 5 entries
		leader := cluster.leader(ctx)
		follower := leader.config.ID%3 + 1
		proposeAll(ctx, t, leader, 1, 3)
		cluster.waitForValue(ctx, follower, 6)
		release := cluster.machines[follower].hold()
		defer release()
		proposeAll(ctx, t, leader, 4, 4)
		time.Sleep(leader.electionTimeout()) // the follower commits 4; its Apply waits
		synctest.Wait()
		cluster.network.Isolate(follower)
		proposeAll(ctx, t, leader, 5, 30)
		time.Sleep(time.Second) // simulated: the leader's snapshots and compactions finish
		synctest.Wait()
		cluster.network.Heal()
		time.Sleep(5 * leader.electionTimeout()) // the snapshot reaches the follower, which waits for its machine
		release()
		cluster.waitForValue(ctx, follower, 30*31/2)
		time.Sleep(leader.electionTimeout())
		if got := cluster.machines[follower].value(); got != 30*31/2 {
			t.Fatalf("follower holds %d, want %d", got, 30*31/2)
		}
	})
}

// Only a leader's proposers wait for its machine: on a follower whose
// machine is behind, Propose still says at once where the leader is (the
// server forwards the call there), rather than wait for a machine that the
// proposal will not touch.
func TestFollowerProposalsAreNotHeldBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster, leader, slow, _ := clusterWithAStalledFollower(ctx, t, 3) // the follower's loop waits only at 6
		proposeAll(ctx, t, leader, 1, 4)
		time.Sleep(leader.electionTimeout()) // the follower commits them; its machine applies none
		synctest.Wait()
		short, cancelShort := context.WithTimeout(ctx, time.Second)
		defer cancelShort()
		var notLeader *NotLeaderError
		if _, err := cluster.nodes[slow].Propose(short, add(1)); !errors.As(err, &notLeader) || notLeader.Leader != leader.config.ID {
			t.Fatalf("propose on a follower whose machine is behind: %v, want NotLeaderError naming %d", err, leader.config.ID)
		}
	})
}

// Applies queued behind a slow one are merged up to maxMergedBytes of
// commands per Apply call: a whole backlog in one call would make a Pebble
// batch larger than half a memtable.
func TestApplierMergesUpToABound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, machine, release := heldApplier(t)
		a.post(applyJob{commands: []Entry{{Index: 1, Term: 1, Command: add(1)}}, lastIndex: 1})
		synctest.Wait() // the applier is in Apply, held
		half := append(add(1), make([]byte, maxMergedBytes/2-8)...)
		for index := uint64(2); index <= 4; index++ {
			a.post(applyJob{commands: []Entry{{Index: index, Term: 1, Command: half}}, lastIndex: index})
		}
		release()
		if err := a.drain(make(chan struct{})); err != nil {
			t.Fatal(err)
		}
		// The first alone, the next two together (exactly the bound), the
		// last alone.
		if machine.calls != 3 || machine.value() != 4 {
			t.Fatalf("%d Apply calls, total %d; want 3 and 4", machine.calls, machine.value())
		}
	})
}

// A Ready may commit more than maxMergedBytes of commands (a node replaying
// its log at start is handed up to 8 MiB at once, a leader whose machine
// is busy many proposals): the loop hands them to the machine in Apply
// calls of maxMergedBytes at most, in log order, and each proposer gets
// its own entry's result.
func TestLoopCutsLargeReadiesIntoJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 1000)
		leader := cluster.leader(ctx)
		// Twelve commands of 400 KiB (4.8 MiB), each adding its own power
		// of two, proposed at once while the leader's machine is held.
		const commands = 12
		release := cluster.machines[leader.config.ID].hold()
		defer release()
		type answer struct {
			value, result uint64
			err           error
		}
		answers := make(chan answer, commands)
		for i := range commands {
			value := uint64(1) << i
			go func() {
				result, err := leader.Propose(ctx, append(add(value), make([]byte, 400<<10)...))
				total, _ := result.(uint64)
				answers <- answer{value, total, err}
			}()
		}
		time.Sleep(leader.electionTimeout()) // they commit; none applies
		synctest.Wait()
		release()
		// The machine's total after each entry is a sum of distinct powers
		// of two, so sorted, the results are the log's order, and each
		// proposer's result must add exactly its own value to the one
		// before it.
		results := make([]answer, 0, commands)
		for range commands {
			got := <-answers
			if got.err != nil {
				t.Fatal(got.err)
			}
			results = append(results, got)
		}
		slices.SortFunc(results, func(a, b answer) int { return cmp.Compare(a.result, b.result) })
		var before uint64
		var order []uint64
		for _, got := range results {
			if got.result-before != got.value {
				t.Fatalf("the proposer of %d got %d after %d: not its own entry's result", got.value, got.result, before)
			}
			before = got.result
			order = append(order, got.value)
		}
		// A follower restarted replays the whole log in one Ready.
		restarted := raft.NodeID(1)
		if restarted == leader.config.ID {
			restarted = 2
		}
		cluster.stop(restarted)
		cluster.start(restarted)
		cluster.waitForValue(ctx, restarted, 1<<commands-1)
		for _, id := range []raft.NodeID{leader.config.ID, restarted} {
			machine := cluster.machines[id]
			if machine.largest > maxMergedBytes {
				t.Fatalf("one Apply call on node %d was given %d bytes of commands, above maxMergedBytes (%d)", id, machine.largest, maxMergedBytes)
			}
			if !slices.Equal(machine.applied(), order) {
				t.Fatalf("node %d applied %v, want the log's order %v", id, machine.applied(), order)
			}
		}
	})
}

// A leader's loop never waits for its machine, however far behind: its
// proposers are held back before the loop, but those already past that
// check can take the backlog beyond twice the bound, and a loop waiting
// there would stop the heartbeats (found by review: ten proposers at a
// bound of two cost the leadership).
func TestLeaderLoopNeverWaitsForItsMachine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lowerApplyBacklog(t, 2) // a follower's loop would wait at 4
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 1000)
		leader := cluster.leader(ctx)
		before, err := leader.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		release := cluster.machines[leader.config.ID].hold()
		defer release()
		answered := make(chan error, 10)
		for range 10 {
			go func() {
				_, err := leader.Propose(ctx, add(1))
				answered <- err
			}()
		}
		time.Sleep(10 * leader.electionTimeout())
		cluster.expectLeaderKept(ctx, leader, before.Term)
		release()
		for range 10 {
			if err := <-answered; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// The backlog is bounded in bytes as well as in commands: a few large
// commands hold proposers back as many small ones do, until applied.
func TestApplierBacklogCountsBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		saved := applyBacklog
		applyBacklog = backlogBound{entries: 1000, bytes: 100}
		defer func() { applyBacklog = saved }()
		a, _, release := heldApplier(t)
		a.post(applyJob{commands: []Entry{{Index: 1, Term: 1, Command: append(add(1), make([]byte, 100)...)}}, lastIndex: 1})
		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := a.waitForRoom(short, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("one command of 108 bytes against a bound of 100: %v, want the context's deadline", err)
		}
		release()
		if err := a.waitForRoom(context.Background(), nil); err != nil {
			t.Fatalf("after the machine applied it: %v", err)
		}
	})
}

// Applies are merged only with the applies right behind them, never across
// other work: a snapshot capture posted between two applies must see the
// machine after the first and before the second.
func TestApplierMergesNothingAcrossOtherWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, machine, release := heldApplier(t)
		a.post(applyJob{commands: []Entry{{Index: 1, Term: 1, Command: add(1)}}, lastIndex: 1})
		synctest.Wait() // the applier is in Apply, held
		a.post(applyJob{commands: []Entry{{Index: 2, Term: 1, Command: add(10)}}, lastIndex: 2})
		var seen uint64
		a.post(applyJob{do: func() { seen = machine.value() }})
		a.post(applyJob{commands: []Entry{{Index: 3, Term: 1, Command: add(100)}}, lastIndex: 3})
		release()
		if err := a.drain(make(chan struct{})); err != nil {
			t.Fatal(err)
		}
		if seen != 11 || machine.value() != 111 {
			t.Fatalf("the job between two applies saw %d (want 11); the machine holds %d (want 111)", seen, machine.value())
		}
	})
}

// heldApplier starts an applier over a counter whose Applies are held until
// release (which also runs when the test ends, before the applier stops).
func heldApplier(t *testing.T) (a *applier, machine *counter, release func()) {
	machine = &counter{}
	a = newApplier(machine, nil, 0)
	go a.run()
	t.Cleanup(a.stop)
	release = machine.hold()
	t.Cleanup(release)
	return a, machine, release
}

// expectLeaderKept fails the test unless every node is still in term,
// under leader.
func (c *testCluster) expectLeaderKept(ctx context.Context, leader *Node, term uint64) {
	c.t.Helper()
	for id, n := range c.nodes {
		status, err := n.Status(ctx)
		if err != nil {
			c.t.Fatal(err)
		}
		if status.Term != term || status.Leader != leader.config.ID {
			c.t.Fatalf("node %d: term %d, leader %d; want term %d under leader %d still", id, status.Term, status.Leader, term, leader.config.ID)
		}
	}
}
