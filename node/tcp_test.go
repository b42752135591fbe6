package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/freeport"
	"github.com/lockstepdb/lockstep/internal/syncbuffer"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/transport"
)

// journal is a state machine that records every command it applies, so a
// test can compare the applied sequences of all nodes.
type journal struct {
	mu       sync.Mutex
	applied  []uint64 // command values, in apply order
	restores int      // images restored: a snapshot from disk or the leader
}

func (j *journal) Apply(entries []Entry) []Result {
	j.mu.Lock()
	defer j.mu.Unlock()
	results := make([]Result, len(entries))
	for i, entry := range entries {
		j.applied = append(j.applied, binary.BigEndian.Uint64(entry.Command))
		results[i] = len(j.applied)
	}
	return results
}

func (j *journal) Snapshot() (io.ReadCloser, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var image []byte
	for _, value := range j.applied {
		image = binary.BigEndian.AppendUint64(image, value)
	}
	return io.NopCloser(bytes.NewReader(image)), nil
}

func (j *journal) Restore(image io.Reader) error {
	data, err := io.ReadAll(image)
	if err != nil || len(data)%8 != 0 {
		return fmt.Errorf("bad journal image: %d bytes, %v", len(data), err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.restores++
	j.applied = nil
	for ; len(data) > 0; data = data[8:] {
		j.applied = append(j.applied, binary.BigEndian.Uint64(data))
	}
	return nil
}

func (j *journal) restored() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.restores
}

func (j *journal) values() []uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.applied)
}

// tcpCluster runs nodes over the gRPC transport on loopback, with their data
// in real directories (fsync on).
type tcpCluster struct {
	t      *testing.T
	dir    string
	faults *transport.FaultHook
	// peerTLS, if set, gives each node's TLS configuration; the node then
	// creates its transport itself (Config.ListenAddress), without the
	// fault hook.
	peerTLS  func(raft.NodeID) *tls.Config
	peers    map[raft.NodeID]string
	nodes    map[raft.NodeID]*Node
	journals map[raft.NodeID]*journal
	// acknowledged holds every command whose Propose succeeded.
	acknowledged []uint64
	next         uint64
	// logs collects every node's log lines; a failed test prints the last
	// ones, since a real-time run does not replay.
	logs *syncbuffer.Buffer
}

func newTCPCluster(t *testing.T, size int) *tcpCluster {
	return newTCPClusterWithTLS(t, size, nil)
}

// newTCPClusterWithTLS starts size nodes whose transports use peerTLS(id),
// or plaintext with the fault hook if peerTLS is nil.
func newTCPClusterWithTLS(t *testing.T, size int, peerTLS func(raft.NodeID) *tls.Config) *tcpCluster {
	c := &tcpCluster{t: t, dir: t.TempDir(), faults: &transport.FaultHook{}, peers: map[raft.NodeID]string{},
		nodes: map[raft.NodeID]*Node{}, journals: map[raft.NodeID]*journal{}, peerTLS: peerTLS, logs: &syncbuffer.Buffer{}}
	for id := raft.NodeID(1); id <= raft.NodeID(size); id++ {
		c.peers[id] = freeLoopbackAddress(t)
	}
	for id := range c.peers {
		c.start(id)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Stop()
		}
		if t.Failed() {
			t.Logf("the nodes' last log lines:\n%s", c.logs.Tail(300))
		}
	})
	return c
}

func freeLoopbackAddress(t *testing.T) string {
	t.Helper()
	address, err := freeport.Address()
	if err != nil {
		t.Fatal(err)
	}
	return address
}

// start starts node id as a member of the initial cluster, or restarts it
// from its disk, with a new state machine.
func (c *tcpCluster) start(id raft.NodeID) {
	c.t.Helper()
	c.journals[id] = &journal{}
	c.startWith(c.config(id))
}

// join starts node id as a new member of the running cluster
// (Config.Join), keeping its state machine if it had one.
func (c *tcpCluster) join(id raft.NodeID) {
	c.t.Helper()
	if c.journals[id] == nil {
		c.journals[id] = &journal{}
	}
	config := c.config(id)
	config.Join = true
	c.startWith(config)
}

// config is node id's configuration as a member of the initial cluster.
func (c *tcpCluster) config(id raft.NodeID) Config {
	c.t.Helper()
	config := Config{ID: id, Directory: fmt.Sprintf("%s/%d", c.dir, id), ClusterID: 42,
		TickInterval: 10 * time.Millisecond, SnapshotEntries: 40, SegmentBytes: 1 << 20,
		Logger: slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if c.peerTLS != nil {
		config.ListenAddress, config.PeerTLS = c.peers[id], c.peerTLS(id)
	} else {
		network, err := transport.New(transport.Config{ID: id, ClusterID: 42, ListenAddress: c.peers[id], Faults: c.faults,
			Logger: config.Logger.With("node", uint64(id))})
		if err != nil {
			c.t.Fatal(err)
		}
		config.Transport = network
	}
	config.Peers = c.peers
	return config
}

// startWith starts a node with config on its journal.
func (c *tcpCluster) startWith(config Config) {
	c.t.Helper()
	n, err := Start(config, c.journals[config.ID])
	if err != nil {
		c.t.Fatalf("start node %d: %v", config.ID, err)
	}
	c.nodes[config.ID] = n
}

func (c *tcpCluster) kill(id raft.NodeID) {
	c.t.Helper()
	if err := c.nodes[id].Stop(); err != nil {
		c.t.Fatal(err)
	}
	delete(c.nodes, id)
	c.journals[id] = &journal{} // its memory is gone; the disk is not
}

// eventually checks condition after every event or tick until it holds or
// ctx ends: a bounded wait on a condition, never a fixed sleep.
func (c *tcpCluster) eventually(ctx context.Context, what string, condition func() bool) {
	c.t.Helper()
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for !condition() {
		select {
		case <-ctx.Done():
			c.t.Fatalf("timed out waiting for %s", what)
		case <-ticker.C:
		}
	}
}

func (c *tcpCluster) leader(ctx context.Context) *Node {
	c.t.Helper()
	var leader *Node
	c.eventually(ctx, "a leader", func() bool {
		for _, n := range c.nodes {
			if status, err := n.Status(ctx); err == nil && status.Role == raft.RoleLeader {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// propose proposes count new commands, following leader changes.
func (c *tcpCluster) propose(ctx context.Context, count int) {
	c.t.Helper()
	for i := 0; i < count; {
		leader := c.leader(ctx)
		c.next++
		_, err := leader.Propose(ctx, binary.BigEndian.AppendUint64(nil, c.next))
		var notLeader *NotLeaderError
		switch {
		case err == nil:
			c.acknowledged = append(c.acknowledged, c.next)
			i++
		case errors.As(err, &notLeader), errors.Is(err, ErrDropped), errors.Is(err, ErrStopped):
		default:
			c.t.Fatalf("propose: %v", err)
		}
	}
}

// transferLeadership asks whoever leads to hand leadership to target until
// target leads. A transfer the core abandons (target did not win within an
// election timeout, as happens when a loaded machine delays its catch-up,
// its vote requests or its fsyncs by more than the 100 ms of the test's
// ticks) is asked for again, from whoever leads then: the claim under test
// is that leadership reaches target, not that it does at the first try on
// a busy machine. Any other error fails the test; ctx bounds the tries.
func (c *tcpCluster) transferLeadership(ctx context.Context, target raft.NodeID) {
	c.t.Helper()
	for attempt := 1; ; attempt++ {
		err := c.leader(ctx).TransferLeadership(ctx, target)
		var notLeader *NotLeaderError
		switch {
		case err == nil:
			return
		case errors.Is(err, ErrTransferAbandoned), errors.As(err, &notLeader), errors.Is(err, ErrStopped):
			c.t.Logf("transfer to node %d, attempt %d: %v; asking again", target, attempt, err)
		default:
			c.t.Fatalf("transfer leadership to node %d: %v", target, err)
		}
		if ctx.Err() != nil {
			c.t.Fatalf("node %d never took over: %v", target, err)
		}
	}
}

// checkSafety waits until every running member has applied everything
// acknowledged, then checks that all applied the same sequence, holding
// every acknowledged command exactly once.
func (c *tcpCluster) checkSafety(ctx context.Context) {
	c.t.Helper()
	for id, n := range c.nodes {
		if err := n.Read(ctx); err != nil {
			c.t.Fatalf("read on node %d: %v", id, err)
		}
	}
	var reference []uint64
	for id := range c.nodes {
		applied := c.journals[id].values()
		if len(applied) > len(reference) {
			reference = applied
		}
	}
	for id := range c.nodes {
		applied := c.journals[id].values()
		if !slices.Equal(applied, reference[:len(applied)]) {
			c.t.Fatalf("node %d applied a different sequence", id)
		}
	}
	seen := map[uint64]int{}
	for _, value := range reference {
		seen[value]++
	}
	for _, value := range c.acknowledged {
		if seen[value] != 1 {
			c.t.Fatalf("acknowledged command %d applied %d times", value, seen[value])
		}
	}
}

// Five nodes over TCP: the leader killed, a node restarted from disk, a
// partition through the fault hook, a node added and caught up by snapshot,
// promoted, a node removed, leadership transferred; safety checked after
// each phase.
func TestClusterOverTCP(t *testing.T) {
	if testing.Short() {
		t.Skip("real TCP cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newTCPCluster(t, 5)
	c.propose(ctx, 30)
	c.checkSafety(ctx)

	killed := c.leader(ctx).config.ID
	c.kill(killed)
	c.propose(ctx, 30)
	c.start(killed) // restarted from its disk
	c.checkSafety(ctx)

	follower := raft.NodeID(1)
	if follower == c.leader(ctx).config.ID {
		follower = 2
	}
	for id := range c.peers {
		if id != follower {
			c.faults.Partition(follower, id)
		}
	}
	c.propose(ctx, 30)
	c.faults.HealAll()
	c.checkSafety(ctx)

	// A new node joins; with snapshots every 40 entries the leader's log
	// no longer starts at 1, so it catches up through a snapshot.
	c.peers[6] = freeLoopbackAddress(t)
	c.join(6)
	leader := c.leader(ctx)
	if err := leader.AddLearner(ctx, 6, c.peers[6]); err != nil {
		t.Fatal(err)
	}
	c.eventually(ctx, "the learner to catch up", func() bool { return len(c.journals[6].values()) >= len(c.acknowledged) })
	// The leader promotes only a learner whose acknowledged log holds every
	// committed entry; its acknowledgements may trail what it applied.
	c.eventually(ctx, "the leader to promote the learner", func() bool {
		err := leader.Promote(ctx, 6)
		if err != nil && !errors.Is(err, raft.ErrInvalidMembershipChange) {
			t.Fatal(err)
		}
		return err == nil
	})
	removed := raft.NodeID(2)
	if removed == leader.config.ID {
		removed = 3
	}
	if err := leader.Remove(ctx, removed); err != nil {
		t.Fatal(err)
	}
	c.kill(removed)
	c.transferLeadership(ctx, 6)
	c.propose(ctx, 30)
	c.checkSafety(ctx)
	status, err := c.nodes[6].Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// transferLeadership returned once node 6 led; it need not lead still
	// (an election on a loaded machine moved leadership on once, in a go
	// test -race -count=20 run beside other packages' tests).
	if len(status.Membership.Voters) != 5 || slices.Contains(status.Membership.Voters, removed) {
		t.Fatalf("final: node 6 (%s) sees membership %+v, want five voters without node %d", status.Role, status.Membership, removed)
	}
}
