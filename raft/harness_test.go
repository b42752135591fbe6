package raft

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// testNode is one member of a testCluster: a core and its durable storage.
type testNode struct {
	core               *Core
	storage            *MemoryStorage
	applied            []Entry
	readStates         []ReadState
	snapshotsInstalled int
	// writes are Readies taken with AsyncPersistence whose writes the test
	// has not completed yet (oldest first).
	writes []Ready
}

// testCluster drives cores by hand: messages wait in a queue until the test
// delivers them, so a test decides exactly what arrives where and when.
type testCluster struct {
	t         *testing.T
	ids       []NodeID
	voters    []NodeID // the bootstrap voters
	nodes     map[NodeID]*testNode
	configure func(*Config)
	queue     []Message
	// persistence is how the cluster's runtime makes writes durable.
	persistence persistence
	// cut[a][b] drops messages from a to b.
	cut map[NodeID]map[NodeID]bool
	// down nodes neither send nor receive.
	down map[NodeID]bool
	// drop, if set, drops the messages it returns true for.
	drop func(Message) bool
	// rewrite, if set, changes messages before delivery.
	rewrite func(Message) Message
	// holdWrites lists the nodes (with AsyncPersistence) whose writes stay
	// in flight until the test calls completeWrites.
	holdWrites map[NodeID]bool
}

// newTestCluster bootstraps a cluster of size voters, persisting in mode
// (from forBothPersistenceModes); configure, if set, adjusts each node's
// configuration.
func newTestCluster(t *testing.T, mode persistence, size int, configure func(*Config)) *testCluster {
	return newTestClusterWithSpares(t, mode, size, 0, configure)
}

// newTestClusterWithSpares bootstraps voters nodes 1..voters and starts
// spares more nodes that join later (Config.Join, no membership).
func newTestClusterWithSpares(t *testing.T, mode persistence, voters, spares int, configure func(*Config)) *testCluster {
	t.Helper()
	cluster := &testCluster{t: t, persistence: mode, nodes: map[NodeID]*testNode{}, configure: configure, cut: map[NodeID]map[NodeID]bool{}, down: map[NodeID]bool{}}
	for i := 1; i <= voters; i++ {
		cluster.voters = append(cluster.voters, NodeID(i))
	}
	for i := 1; i <= voters+spares; i++ {
		cluster.ids = append(cluster.ids, NodeID(i))
	}
	for _, id := range cluster.ids {
		cluster.start(id, NewMemoryStorage())
	}
	return cluster
}

func (tc *testCluster) config(id NodeID, storage *MemoryStorage) Config {
	config := Config{
		ID:                id,
		Storage:           storage,
		Random:            rand.NewPCG(uint64(id), 42),
		InitialMembership: Membership{Voters: tc.voters},
		ElectionTicks:     10,
		HeartbeatTicks:    1,
	}
	if !slicesContains(tc.voters, id) {
		config.InitialMembership = Membership{}
		config.Join = true
	}
	config.AsyncPersistence = tc.persistence == asynchronous
	if tc.configure != nil {
		tc.configure(&config)
	}
	return config
}

// start (re)starts a node from storage; its volatile state is rebuilt.
func (tc *testCluster) start(id NodeID, storage *MemoryStorage) {
	tc.t.Helper()
	var applied uint64
	var appliedEntries []Entry
	if old := tc.nodes[id]; old != nil {
		appliedEntries = old.applied
		if n := len(appliedEntries); n > 0 {
			applied = appliedEntries[n-1].Index
		}
	}
	config := tc.config(id, storage)
	config.Applied = applied
	core, err := NewCore(config)
	if err != nil {
		tc.t.Fatalf("start node %d: %v", id, err)
	}
	tc.nodes[id] = &testNode{core: core, storage: storage, applied: appliedEntries}
}

// restart brings a down node back, from what its storage holds.
func (tc *testCluster) restart(id NodeID) {
	tc.t.Helper()
	tc.down[id] = false
	tc.crash(id)
}

// crash restarts a node from what its storage holds, dropping its queue.
func (tc *testCluster) crash(id NodeID) {
	tc.t.Helper()
	kept := tc.queue[:0]
	for _, m := range tc.queue {
		if m.To != id && m.From != id {
			kept = append(kept, m)
		}
	}
	tc.queue = kept
	tc.start(id, tc.nodes[id].storage)
}

func (tc *testCluster) core(id NodeID) *Core { return tc.nodes[id].core }

// process handles every Ready of a node, as a runtime would: persist, send,
// apply, advance.
func (tc *testCluster) process(id NodeID) {
	node := tc.nodes[id]
	if node.core.config.AsyncPersistence {
		tc.processAsync(id)
		return
	}
	for node.core.HasReady() {
		ready := node.core.Ready()
		tc.queue = append(tc.queue, ready.SendNow...)
		tc.write(id, ready)
		node.readStates = append(node.readStates, ready.ReadStates...)
		tc.queue = append(tc.queue, ready.SendAfterPersist...)
		node.applied = append(node.applied, ready.CommittedEntries...)
		node.core.Advance(ready)
	}
}

// write makes a Ready's snapshot (restoring the state machine from it),
// entries and hard state durable.
func (tc *testCluster) write(id NodeID, ready Ready) {
	node := tc.nodes[id]
	if !ready.Snapshot.IsEmpty() {
		if err := node.storage.ApplySnapshot(ready.Snapshot); err != nil {
			tc.t.Fatalf("node %d: apply snapshot: %v", id, err)
		}
		// The test state machine is the list of applied entries.
		node.applied = nil
		if err := json.Unmarshal(ready.Snapshot.Data, &node.applied); err != nil {
			tc.t.Fatalf("node %d: restore snapshot: %v", id, err)
		}
		node.snapshotsInstalled++
	}
	if err := node.storage.Append(ready.Entries); err != nil {
		tc.t.Fatalf("node %d: append: %v", id, err)
	}
	if !ready.HardState.IsEmpty() {
		node.storage.SetHardState(ready.HardState)
	}
}

// processAsync handles every Ready of a node with AsyncPersistence: send
// (SendAfterPersist holds only released messages), apply, advance, and
// queue the write; the writes complete at once unless the node is in
// holdWrites.
func (tc *testCluster) processAsync(id NodeID) {
	node := tc.nodes[id]
	for node.core.HasReady() {
		ready := node.core.Ready()
		tc.queue = append(tc.queue, ready.SendNow...)
		tc.queue = append(tc.queue, ready.SendAfterPersist...)
		node.readStates = append(node.readStates, ready.ReadStates...)
		node.applied = append(node.applied, ready.CommittedEntries...)
		if ready.PersistSequence != 0 {
			node.writes = append(node.writes, Ready{HardState: ready.HardState, Entries: ready.Entries, Snapshot: ready.Snapshot, PersistSequence: ready.PersistSequence})
		}
		node.core.Advance(ready)
		if !tc.holdWrites[id] {
			tc.completeWrites(id, len(node.writes))
		}
	}
}

// completeWrites makes a node's oldest count writes in flight durable and
// reports the last of them to its core.
func (tc *testCluster) completeWrites(id NodeID, count int) {
	node := tc.nodes[id]
	if count == 0 {
		return
	}
	for _, ready := range node.writes[:count] {
		tc.write(id, ready)
	}
	sequence := node.writes[count-1].PersistSequence
	node.writes = node.writes[count:]
	node.core.Persisted(sequence)
}

func (tc *testCluster) processAll() {
	for _, id := range tc.ids {
		if !tc.down[id] {
			tc.process(id)
		}
	}
}

func (tc *testCluster) dropped(m Message) bool {
	return tc.down[m.From] || tc.down[m.To] || tc.cut[m.From][m.To] || (tc.drop != nil && tc.drop(m))
}

// deliver delivers queued messages (and the ones they cause) until none
// are left or limit deliveries were made.
func (tc *testCluster) deliver() int {
	tc.processAll()
	delivered := 0
	for len(tc.queue) > 0 && delivered < 100000 {
		m := tc.queue[0]
		tc.queue = tc.queue[1:]
		if tc.dropped(m) {
			continue
		}
		delivered++
		if tc.rewrite != nil {
			m = tc.rewrite(m)
		}
		if err := tc.core(m.To).Step(m); err != nil {
			tc.t.Fatalf("step %v: %v", m, err)
		}
		tc.process(m.To)
	}
	return delivered
}

// tick ticks one node n times, delivering after each tick.
func (tc *testCluster) tick(id NodeID, n int) {
	for i := 0; i < n; i++ {
		tc.core(id).Tick()
		tc.deliver()
	}
}

// tickAll ticks every running node n times, delivering after each round.
func (tc *testCluster) tickAll(n int) {
	for i := 0; i < n; i++ {
		for _, id := range tc.ids {
			if !tc.down[id] {
				tc.core(id).Tick()
			}
		}
		tc.deliver()
	}
}

// expireLeases makes the running nodes other than except behave as if an
// election timeout passed without word from a leader, so that they will
// answer a candidate (with CheckQuorum, a node that heard from a leader
// recently ignores vote requests).
func (tc *testCluster) expireLeases(except NodeID) {
	for _, id := range tc.ids {
		if id != except && !tc.down[id] {
			tc.core(id).electionElapsed = tc.core(id).config.ElectionTicks
			tc.core(id).restartLease = false
		}
	}
}

// elect makes id time out and campaign, then delivers everything.
func (tc *testCluster) elect(id NodeID) {
	tc.t.Helper()
	if !tc.tryElect(id) {
		tc.t.Fatalf("node %d did not become leader: %+v", id, tc.core(id).Status())
	}
}

// tryElect lets only id's clock run until it wins an election or has tried
// for ten election timeouts; it reports whether id leads.
func (tc *testCluster) tryElect(id NodeID) bool {
	core := tc.core(id)
	for i := 0; i < 10*core.config.ElectionTicks && core.role != RoleLeader; i++ {
		tc.expireLeases(id)
		core.Tick()
		tc.deliver()
	}
	return core.role == RoleLeader
}

// propose proposes on id and delivers everything.
func (tc *testCluster) propose(id NodeID, command string) (uint64, uint64) {
	tc.t.Helper()
	index, term, err := tc.core(id).Propose([]byte(command))
	if err != nil {
		tc.t.Fatalf("propose on %d: %v", id, err)
	}
	tc.deliver()
	return index, term
}

// isolate cuts id off from everyone, both ways.
func (tc *testCluster) isolate(id NodeID) {
	for _, other := range tc.ids {
		if other != id {
			tc.cutLink(id, other)
			tc.cutLink(other, id)
		}
	}
}

func (tc *testCluster) cutLink(from, to NodeID) {
	if tc.cut[from] == nil {
		tc.cut[from] = map[NodeID]bool{}
	}
	tc.cut[from][to] = true
}

func (tc *testCluster) heal() { tc.cut = map[NodeID]map[NodeID]bool{} }

// appliedCommands returns the non-empty commands a node applied, in order.
func (tc *testCluster) appliedCommands(id NodeID) []string {
	var commands []string
	for _, entry := range tc.nodes[id].applied {
		if len(entry.Data) > 0 {
			commands = append(commands, string(entry.Data))
		}
	}
	return commands
}

// logEntries returns a node's whole log (durable and unstable).
func logEntries(t *testing.T, core *Core) []Entry {
	t.Helper()
	entries, err := core.log.slice(core.log.firstIndex(), core.log.lastIndex()+1, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func slicesContains(ids []NodeID, id NodeID) bool {
	for _, other := range ids {
		if other == id {
			return true
		}
	}
	return false
}

// snapshot captures a node's applied state and compacts its log up to it.
func (tc *testCluster) snapshot(id NodeID) Snapshot {
	tc.t.Helper()
	node := tc.nodes[id]
	index := node.core.log.applied
	metadata, err := node.core.SnapshotMetadata(index)
	if err != nil {
		tc.t.Fatal(err)
	}
	data, err := json.Marshal(node.applied)
	if err != nil {
		tc.t.Fatal(err)
	}
	snapshot := Snapshot{Metadata: metadata, Data: data}
	if err := node.storage.Compact(snapshot); err != nil {
		tc.t.Fatalf("node %d: compact at %d: %v", id, index, err)
	}
	return snapshot
}

// membership returns a node's current configuration.
func (tc *testCluster) membership(id NodeID) Membership { return tc.core(id).membership }
