package raft_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// benchNode is a core with in-memory storage and an inbox, for measuring the
// core alone: no disk, no network, no goroutines.
type benchNode struct {
	core    *raft.Core
	storage *raft.MemoryStorage
	inbox   []raft.Message
}

type benchCluster struct {
	nodes []*benchNode
	// async runs the cores with AsyncPersistence: each Ready is taken,
	// then its write made durable and reported with Persisted.
	async bool
	// committed counts leader-applied commands.
	committed int
}

func newBenchCluster(tb testing.TB, size int, async bool) *benchCluster {
	tb.Helper()
	var voters []raft.NodeID
	for i := 1; i <= size; i++ {
		voters = append(voters, raft.NodeID(i))
	}
	cluster := &benchCluster{async: async}
	for _, id := range voters {
		storage := raft.NewMemoryStorage()
		core, err := raft.NewCore(raft.Config{ID: id, Storage: storage, Random: rand.NewPCG(uint64(id), 1),
			InitialMembership: raft.Membership{Voters: voters}, MaxInflightAppends: 1024, AsyncPersistence: async})
		if err != nil {
			tb.Fatal(err)
		}
		cluster.nodes = append(cluster.nodes, &benchNode{core: core, storage: storage})
	}
	leader := cluster.nodes[0].core
	for leader.Summary().Role != raft.RoleLeader {
		leader.Tick()
		cluster.run()
	}
	cluster.run()
	return cluster
}

// run handles Readies and delivers messages until the cluster is quiet.
func (c *benchCluster) run() {
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
				ready := n.core.Ready()
				c.route(ready.SendNow)
				if c.async {
					c.route(ready.SendAfterPersist) // released: their writes are durable
				}
				if err := n.storage.Append(ready.Entries); err != nil {
					panic(err)
				}
				if !ready.HardState.IsEmpty() {
					n.storage.SetHardState(ready.HardState)
				}
				if !c.async {
					c.route(ready.SendAfterPersist)
				}
				if index == 0 {
					for _, entry := range ready.CommittedEntries {
						if len(entry.Data) > 0 {
							c.committed++
						}
					}
				}
				sequence := ready.PersistSequence
				n.core.Advance(ready)
				if sequence != 0 {
					n.core.Persisted(sequence)
				}
			}
		}
	}
}

func (c *benchCluster) route(messages []raft.Message) {
	for _, m := range messages {
		target := c.nodes[m.To-1]
		target.inbox = append(target.inbox, m)
	}
}

// benchmarkCommit measures proposals committed per second in a 3-node
// in-memory cluster, with proposers commands outstanding at any time: each
// proposer proposes again as soon as its previous command is applied on the
// leader.
func benchmarkCommit(b *testing.B, proposers int, async bool) {
	cluster := newBenchCluster(b, 3, async)
	leader := cluster.nodes[0].core
	command := make([]byte, 64)
	proposed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for cluster.committed < b.N {
		for proposed-cluster.committed < proposers && proposed < b.N {
			if _, _, err := leader.Propose(command); err != nil {
				b.Fatal(err)
			}
			proposed++
		}
		cluster.run()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	// Compact now and then so memory stays flat on long runs is the
	// runtime's job; here the whole log stays in memory, as in etcd's
	// in-memory harness.
}

func BenchmarkCommit(b *testing.B) {
	for _, proposers := range []int{1, 4096} {
		b.Run(fmt.Sprintf("proposers=%d", proposers), func(b *testing.B) { benchmarkCommit(b, proposers, false) })
	}
	// The same with AsyncPersistence (writes reported right after each
	// Ready): the cost of the core's bookkeeping for it.
	for _, proposers := range []int{1, 4096} {
		b.Run(fmt.Sprintf("async/proposers=%d", proposers), func(b *testing.B) { benchmarkCommit(b, proposers, true) })
	}
}
