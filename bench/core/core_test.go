// Package core compares lockstep's Raft core with etcd's raft core
// (go.etcd.io/raft/v3) in the same process and the same run, through the
// same harness, so that the result is a ratio measured here rather than a
// figure quoted from elsewhere.
//
// The harness is the one of lockstep's raft/bench_test.go: a 3-node
// cluster, each node with its library's in-memory storage and an inbox, no
// disk, no network, no goroutines, one goroutine driving all three nodes.
// A fixed number of proposers keep one 64-byte command outstanding each: a
// proposer proposes again as soon as its previous command is applied on the
// leader. The delivery loop, identical for both libraries, is: for each
// node, step every message in its inbox, then handle every Ready (append
// the entries and the hard state to the in-memory storage, route the
// messages to the inboxes, count the non-empty entries the leader applies,
// advance), until no node has anything to do.
package core

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	etcdraft "go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

const (
	clusterSize  = 3
	commandBytes = 64
	// Flow control, the same for both: lockstep's bench uses
	// MaxInflightAppends 1024 and the default MaxAppendBytes of 1 MiB.
	maxInflight    = 1024
	maxAppendBytes = 1 << 20
	electionTicks  = 10
	heartbeatTicks = 1
)

// compact, when set, makes every node compact its in-memory storage as it
// applies, keeping the last compactKeep entries, so that the figures do not
// include the cost of growing (and garbage-collecting) an ever longer
// in-memory log. Off by default, as in raft/bench_test.go.
var compact = flag.Bool("compact", false, "compact each node's in-memory log every compactEvery applied entries")

const (
	compactEvery = 1 << 16
	// compactKeep is far more than can be in flight (4096 proposers), so
	// the leader never needs a compacted entry.
	compactKeep = 1 << 13
)

// cluster is what the benchmark loop drives. The per-library hot paths
// (delivery and Ready handling) are concrete code below; only these three
// calls per loop iteration go through the interface.
type cluster interface {
	propose(command []byte) error
	// run handles Readies and delivers messages until the cluster is quiet.
	run()
	// committed is the number of non-empty entries the leader has applied.
	committed() int
	// work reports how many messages were routed and Readies handled, to
	// check that both libraries do the same work per commit.
	work() (messages, readies int)
	// check verifies, after the timed loop, that every node holds and has
	// committed the whole log.
	check(tb testing.TB, want int)
}

// benchmarkCommit measures proposals committed per second with proposers
// commands outstanding at any time, exactly as raft/bench_test.go does.
func benchmarkCommit(b *testing.B, c cluster, proposers int) {
	command := make([]byte, commandBytes)
	proposed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for c.committed() < b.N {
		for proposed-c.committed() < proposers && proposed < b.N {
			if err := c.propose(command); err != nil {
				b.Fatal(err)
			}
			proposed++
		}
		before := c.committed()
		c.run()
		if c.committed() == before {
			b.Fatalf("no progress: %d proposed, %d committed of %d", proposed, before, b.N)
		}
	}
	b.StopTimer()
	if got := c.committed(); got != b.N || proposed != b.N {
		b.Fatalf("committed %d, proposed %d, want %d", got, proposed, b.N)
	}
	c.check(b, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	messages, readies := c.work()
	b.ReportMetric(float64(messages)/float64(b.N), "msgs/op")
	b.ReportMetric(float64(readies)/float64(b.N), "readies/op")
}

func BenchmarkCore(b *testing.B) {
	libraries := []struct {
		name    string
		cluster func(testing.TB) cluster
	}{
		{"lockstep", func(tb testing.TB) cluster { return newLockstepCluster(tb, clusterSize) }},
		{"etcd", func(tb testing.TB) cluster { return newEtcdCluster(tb, clusterSize) }},
	}
	for _, library := range libraries {
		b.Run(library.name, func(b *testing.B) {
			for _, proposers := range []int{1, 4096} {
				b.Run(fmt.Sprintf("proposers=%d", proposers), func(b *testing.B) {
					benchmarkCommit(b, library.cluster(b), proposers)
				})
			}
		})
	}
}

// BenchmarkEtcdBatched is not part of the like-for-like comparison: it
// shows how much etcd gains when the caller batches. etcd's leader sends
// an append to every follower as soon as a proposal is stepped, where
// lockstep's defers the broadcast to the next Ready, so that every proposal
// made in between travels in one append. Here the harness hands etcd all
// the proposals of a loop iteration as one MsgProp, which gives it the same
// batching.
func BenchmarkEtcdBatched(b *testing.B) {
	for _, proposers := range []int{1, 4096} {
		b.Run(fmt.Sprintf("proposers=%d", proposers), func(b *testing.B) {
			c := newEtcdCluster(b, clusterSize)
			c.batch = true
			benchmarkCommit(b, c, proposers)
		})
	}
}

// TestHarness runs both harnesses on a fixed number of commands, so that
// `go test` alone checks that they commit everything and stop.
func TestHarness(t *testing.T) {
	for _, proposers := range []int{1, 7, 4096} {
		for name, newCluster := range map[string]func(testing.TB) cluster{
			"lockstep": func(tb testing.TB) cluster { return newLockstepCluster(tb, clusterSize) },
			"etcd":     func(tb testing.TB) cluster { return newEtcdCluster(tb, clusterSize) },
			"etcd-batched": func(tb testing.TB) cluster {
				c := newEtcdCluster(tb, clusterSize)
				c.batch = true
				return c
			},
		} {
			t.Run(fmt.Sprintf("%s/proposers=%d", name, proposers), func(t *testing.T) {
				const total = 10000
				c := newCluster(t)
				command := make([]byte, commandBytes)
				proposed := 0
				for c.committed() < total {
					for proposed-c.committed() < proposers && proposed < total {
						if err := c.propose(command); err != nil {
							t.Fatal(err)
						}
						proposed++
					}
					before := c.committed()
					c.run()
					if c.committed() == before {
						t.Fatalf("no progress at %d", before)
					}
				}
				if c.committed() != total {
					t.Fatalf("committed %d, want %d", c.committed(), total)
				}
				c.check(t, total)
			})
		}
	}
}

// ---------------------------------------------------------------- lockstep

type lockstepNode struct {
	core    *raft.Core
	storage *raft.MemoryStorage
	inbox   []raft.Message
	applied int // non-empty entries applied, checked after the run
	// appliedIndex and compactedTo drive -compact.
	appliedIndex, compactedTo uint64
}

type lockstepCluster struct {
	nodes     []*lockstepNode
	nCommited int
	messages  int
	readies   int
}

func (c *lockstepCluster) work() (messages, readies int) { return c.messages, c.readies }

func newLockstepCluster(tb testing.TB, size int) *lockstepCluster {
	tb.Helper()
	var voters []raft.NodeID
	for i := 1; i <= size; i++ {
		voters = append(voters, raft.NodeID(i))
	}
	c := &lockstepCluster{}
	for _, id := range voters {
		storage := raft.NewMemoryStorage()
		core, err := raft.NewCore(raft.Config{
			ID: id, Storage: storage, Random: rand.NewPCG(uint64(id), 1),
			InitialMembership: raft.Membership{Voters: voters},
			ElectionTicks:     electionTicks, HeartbeatTicks: heartbeatTicks,
			// PreVote and CheckQuorum are on by default.
			MaxInflightAppends: maxInflight, MaxAppendBytes: maxAppendBytes,
		})
		if err != nil {
			tb.Fatal(err)
		}
		c.nodes = append(c.nodes, &lockstepNode{core: core, storage: storage})
	}
	// Elect node 1: tick it until its election timeout fires.
	leader := c.nodes[0].core
	for ticks := 0; leader.Summary().Role != raft.RoleLeader; ticks++ {
		if ticks > 100*electionTicks {
			tb.Fatal("lockstep: node 1 was not elected")
		}
		leader.Tick()
		c.run()
	}
	c.run()
	c.nCommited, c.messages, c.readies = 0, 0, 0
	return c
}

func (c *lockstepCluster) propose(command []byte) error {
	_, _, err := c.nodes[0].core.Propose(command)
	return err
}

func (c *lockstepCluster) committed() int { return c.nCommited }

func (c *lockstepCluster) run() {
	for busy := true; busy; {
		busy = false
		for index, n := range c.nodes {
			for _, m := range n.inbox {
				if err := n.core.Step(m); err != nil {
					panic(err)
				}
			}
			n.inbox = n.inbox[:0]
			for n.core.HasReady() {
				busy = true
				c.readies++
				ready := n.core.Ready()
				if err := n.storage.Append(ready.Entries); err != nil {
					panic(err)
				}
				if !ready.HardState.IsEmpty() {
					n.storage.SetHardState(ready.HardState)
				}
				c.route(ready.SendNow)
				c.route(ready.SendAfterPersist)
				for _, entry := range ready.CommittedEntries {
					if len(entry.Data) > 0 {
						n.applied++
						if index == 0 {
							c.nCommited++
						}
					}
				}
				if k := len(ready.CommittedEntries); k > 0 {
					n.appliedIndex = ready.CommittedEntries[k-1].Index
				}
				n.core.Advance(ready)
			}
			if *compact && n.appliedIndex >= n.compactedTo+compactEvery+compactKeep {
				c.compact(n)
			}
		}
	}
}

func (c *lockstepCluster) compact(n *lockstepNode) {
	index := n.appliedIndex - compactKeep
	term, err := n.storage.Term(index)
	if err != nil {
		panic(err)
	}
	voters := make([]raft.NodeID, len(c.nodes))
	for i := range c.nodes {
		voters[i] = raft.NodeID(i + 1)
	}
	if err := n.storage.Compact(raft.Snapshot{Metadata: raft.SnapshotMetadata{
		Index: index, Term: term, Membership: raft.Membership{Voters: voters}}}); err != nil {
		panic(err)
	}
	n.compactedTo = index
}

func (c *lockstepCluster) route(messages []raft.Message) {
	c.messages += len(messages)
	for _, m := range messages {
		target := c.nodes[m.To-1]
		target.inbox = append(target.inbox, m)
	}
}

func (c *lockstepCluster) check(tb testing.TB, want int) {
	tb.Helper()
	leaderLast, _ := c.nodes[0].storage.LastIndex()
	for i, n := range c.nodes {
		last, _ := n.storage.LastIndex()
		commit := n.storage.HardState().Commit
		if last != leaderLast || commit != leaderLast {
			tb.Fatalf("lockstep node %d: last index %d, commit %d, leader's last index %d", i+1, last, commit, leaderLast)
		}
		if i == 0 && n.applied != want {
			tb.Fatalf("lockstep leader applied %d commands, want %d", n.applied, want)
		}
	}
}

// -------------------------------------------------------------------- etcd

type etcdNode struct {
	id      uint64
	raw     *etcdraft.RawNode
	storage *etcdraft.MemoryStorage
	inbox   []*pb.Message
	applied int
	// appliedIndex and compactedTo drive -compact.
	appliedIndex, compactedTo uint64
}

type etcdCluster struct {
	nodes []*etcdNode
	// batch, if set, collects the proposals made between two runs and
	// steps them into the leader as one MsgProp (see BenchmarkEtcdBatched).
	batch     bool
	pending   []*pb.Entry
	nCommited int
	messages  int
	readies   int
}

func (c *etcdCluster) work() (messages, readies int) { return c.messages, c.readies }

var discardLogger = &etcdraft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}

func newEtcdCluster(tb testing.TB, size int) *etcdCluster {
	tb.Helper()
	var voters []uint64
	for i := 1; i <= size; i++ {
		voters = append(voters, uint64(i))
	}
	c := &etcdCluster{}
	for _, id := range voters {
		storage := etcdraft.NewMemoryStorage()
		// Bootstrap the membership the way etcd recommends: a storage
		// whose initial state holds the configuration (first index 2).
		// lockstep's InitialMembership is its equivalent.
		if err := storage.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{
			Index: new(uint64(1)), Term: new(uint64(1)), ConfState: &pb.ConfState{Voters: voters},
		}}); err != nil {
			tb.Fatal(err)
		}
		raw, err := etcdraft.NewRawNode(&etcdraft.Config{
			ID: id, Storage: storage,
			ElectionTick: electionTicks, HeartbeatTick: heartbeatTicks,
			MaxSizePerMsg: maxAppendBytes, MaxInflightMsgs: maxInflight,
			PreVote: true, CheckQuorum: true,
			Logger: discardLogger,
		})
		if err != nil {
			tb.Fatal(err)
		}
		c.nodes = append(c.nodes, &etcdNode{id: id, raw: raw, storage: storage})
	}
	// Elect node 1.
	if err := c.nodes[0].raw.Campaign(); err != nil {
		tb.Fatal(err)
	}
	c.run()
	if st := c.nodes[0].raw.BasicStatus(); st.RaftState != etcdraft.StateLeader {
		tb.Fatalf("etcd: node 1 was not elected: %v", st.RaftState)
	}
	c.run()
	c.nCommited, c.messages, c.readies = 0, 0, 0
	return c
}

func (c *etcdCluster) propose(command []byte) error {
	if c.batch {
		c.pending = append(c.pending, &pb.Entry{Data: command})
		return nil
	}
	return c.nodes[0].raw.Propose(command)
}

// flush steps the collected proposals into the leader as one MsgProp.
func (c *etcdCluster) flush() {
	if len(c.pending) == 0 {
		return
	}
	leader := c.nodes[0]
	if err := leader.raw.Step(&pb.Message{Type: pb.MsgProp.Enum(), From: new(leader.id), Entries: c.pending}); err != nil {
		panic(err)
	}
	c.pending = nil
}

func (c *etcdCluster) committed() int { return c.nCommited }

func (c *etcdCluster) run() {
	c.flush()
	for busy := true; busy; {
		busy = false
		for index, n := range c.nodes {
			for _, m := range n.inbox {
				if err := n.raw.Step(m); err != nil {
					panic(err)
				}
			}
			n.inbox = n.inbox[:0]
			for n.raw.HasReady() {
				busy = true
				c.readies++
				rd := n.raw.Ready()
				// Persist first: etcd's Messages may only leave once
				// Entries and HardState are durable.
				if err := n.storage.Append(rd.Entries); err != nil {
					panic(err)
				}
				if !etcdraft.IsEmptyHardState(rd.HardState) {
					if err := n.storage.SetHardState(rd.HardState); err != nil {
						panic(err)
					}
				}
				c.route(rd.Messages)
				for _, entry := range rd.CommittedEntries {
					if len(entry.GetData()) > 0 {
						n.applied++
						if index == 0 {
							c.nCommited++
						}
					}
				}
				if k := len(rd.CommittedEntries); k > 0 {
					n.appliedIndex = rd.CommittedEntries[k-1].GetIndex()
				}
				n.raw.Advance(rd)
			}
			if *compact && n.appliedIndex >= n.compactedTo+compactEvery+compactKeep {
				index := n.appliedIndex - compactKeep
				if err := n.storage.Compact(index); err != nil {
					panic(err)
				}
				n.compactedTo = index
			}
		}
	}
}

func (c *etcdCluster) route(messages []*pb.Message) {
	c.messages += len(messages)
	for _, m := range messages {
		target := c.nodes[m.GetTo()-1]
		target.inbox = append(target.inbox, m)
	}
}

func (c *etcdCluster) check(tb testing.TB, want int) {
	tb.Helper()
	leaderLast, _ := c.nodes[0].storage.LastIndex()
	for i, n := range c.nodes {
		last, _ := n.storage.LastIndex()
		hs, _, _ := n.storage.InitialState()
		if last != leaderLast || hs.GetCommit() != leaderLast {
			tb.Fatalf("etcd node %d: last index %d, commit %d, leader's last index %d", i+1, last, hs.GetCommit(), leaderLast)
		}
		if i == 0 && n.applied != want {
			tb.Fatalf("etcd leader applied %d commands, want %d", n.applied, want)
		}
	}
}
