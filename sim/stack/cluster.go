package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// member is one node of the run, across its incarnations.
type member struct {
	id     raft.NodeID
	joined bool // started with Config.Join (added during the run)
	// disk survives crashes (Crash drops what was not synced); guarded by
	// cluster.mu.
	disk *vfs.MemFS
	// failSync makes the disk fail its next fsync (a disk fault).
	failSync atomic.Bool
	// power is the current incarnation's view of disk, turned off when the
	// disk crashes (see poweredDisk).
	power atomic.Pointer[poweredDisk]
	// powerFailure, when set, crashes the disk during its next fsync.
	// A crash from the schedule falls between events, when every write
	// has long been synced; this one falls between a write and its fsync,
	// the moment torn writes matter.
	powerFailure atomic.Pointer[powerFailure]

	// Guarded by cluster.mu.
	node        *node.Node // nil while down
	machine     *machine   // the current (or last) incarnation's
	incarnation uint64
	// retired: removed from the cluster and stopped; the schedule no
	// longer restarts it.
	retired bool
}

func newMember(id raft.NodeID, joined bool) *member {
	m := &member{id: id, joined: joined}
	m.disk = newDisk(m)
	return m
}

// newDisk returns an empty disk that fails an fsync when m.failSync is set.
func newDisk(m *member) *vfs.MemFS {
	disk := vfs.NewMemFS()
	disk.SetFault(func(operation vfs.Operation, _ string) error {
		if operation != vfs.OperationSync {
			return nil
		}
		if failure := m.powerFailure.Swap(nil); failure != nil {
			// The power fails while this fsync is under way: what was
			// written and not yet durable, this fsync's data among it, is
			// lost or torn, and the disk answers nothing more.
			if power := m.power.Load(); power != nil && power.disk == disk {
				power.crash(failure.torn)
			} else {
				disk.Crash(failure.torn)
			}
			return errInjected
		}
		if m.failSync.CompareAndSwap(true, false) {
			return errInjected
		}
		return nil
	})
	return disk
}

// powerFailure is a crash armed for a member's next fsync; torn, if not
// nil, tears the unsynced writes instead of dropping them.
type powerFailure struct{ torn *rand.Rand }

// cluster is the run's world: its members, network and recorder. Its lock
// guards the members' fields and is never held while waiting: a goroutine
// blocked on a mutex is not durably blocked, so a bubble could not advance
// its clock past it.
type cluster struct {
	options  Options
	profile  profile
	network  *Network
	recorder *recorder
	counts   counts

	mu      sync.Mutex
	members map[raft.NodeID]*member
	peers   map[raft.NodeID]string
	nextID  raft.NodeID
}

// counts are the run's figures, for the result; updated atomically
// because the driver and the admin goroutine both count.
type counts struct {
	crashes, diskFaults, diskFulls, restarts, partitions, transfers, removed, added, promoted atomic.Int64
	processRestarts                                                                           atomic.Int64
	noSpaceRefusals                                                                           atomic.Int64
}

// profile is what a seed draws once for the whole run.
type profile struct {
	snapshotEntries int
	leaseReads      bool
	// asyncPersistence runs the nodes with node.Config.AsyncPersistence:
	// on odd seeds, without a random draw, so that other seeds replay as
	// before.
	asyncPersistence bool
	// durableMachines runs the nodes with durableMachine, which keeps its
	// state on the member's disk, rather than machine, which the runtime
	// restores from its snapshot and log: on half the seeds (both parities,
	// so both persistence modes), without a random draw, for the same
	// reason.
	durableMachines bool
}

func newCluster(options Options, random *rand.Rand) *cluster {
	c := &cluster{
		options:  options,
		network:  NewNetwork(options.Seed, options.TickInterval/10),
		recorder: newRecorder(options.TickInterval, options.Trace),
		members:  map[raft.NodeID]*member{},
		peers:    map[raft.NodeID]string{},
		profile: profile{snapshotEntries: 3 + random.IntN(25), leaseReads: random.IntN(3) == 0,
			asyncPersistence: options.Seed%2 == 1, durableMachines: (options.Seed/2)%2 == 1},
	}
	for id := raft.NodeID(1); id <= raft.NodeID(options.Nodes); id++ {
		c.peers[id] = fmt.Sprintf("node-%d", id)
		c.members[id] = newMember(id, false)
	}
	c.nextID = raft.NodeID(options.Nodes) + 1
	return c
}

// start starts a member's next incarnation on its disk. A node that cannot
// restart from what a crash left on its disk is a violation, and so is a
// durable machine that cannot load what its disk kept.
func (c *cluster) start(m *member) {
	c.mu.Lock()
	m.incarnation++
	peers := make(map[raft.NodeID]string, len(c.peers))
	for id, address := range c.peers {
		peers[id] = address
	}
	incarnation := m.incarnation
	disk := &poweredDisk{disk: m.disk}
	m.power.Store(disk)
	c.mu.Unlock()
	stateMachine, machine, err := c.newStateMachine(m.id, disk)
	var n *node.Node
	if err == nil {
		seed := c.options.Seed
		n, err = node.Start(node.Config{
			ID: m.id, Directory: "/node", FileSystem: disk, Peers: peers, Join: m.joined,
			Transport:    c.network.Transport(m.id),
			TickInterval: c.options.TickInterval, ElectionTicks: electionTicks, HeartbeatTicks: 1,
			SnapshotEntries: c.profile.snapshotEntries, SegmentBytes: 4 << 10,
			AsyncPersistence: c.profile.asyncPersistence,
			Logger:           slog.New(slog.DiscardHandler),
			RaftConfig: func(config *raft.Config) {
				config.Random = rand.NewPCG(seed, uint64(m.id)<<32|incarnation)
				if c.profile.leaseReads {
					config.LeaseReads, config.MaxClockDriftTicks = true, 2
				}
			},
		}, stateMachine)
	}
	if errors.Is(err, errInjected) {
		// The disk fault was meant for the running node, but a crash came
		// first: the restart met it. Refusing to start on a failed fsync
		// is right; the member stays down until the next restart or the
		// heal (the fault is spent).
		c.recorder.tracef("node %d (incarnation %d) failed to start on the injected fsync failure: %v", m.id, incarnation, err)
		return
	}
	if vfs.IsNoSpace(err) {
		// Restarted on a full disk (fillDisk): refusing to start is
		// right; it starts again once space returns.
		c.recorder.tracef("node %d (incarnation %d) failed to start on its full disk: %v", m.id, incarnation, err)
		return
	}
	if err != nil {
		c.recorder.violate("restart", "node %d (incarnation %d) does not start from its disk: %v", m.id, incarnation, err)
		return
	}
	c.mu.Lock()
	m.node, m.machine = n, machine
	c.mu.Unlock()
	c.recorder.tracef("node %d started (incarnation %d)", m.id, incarnation)
}

// newStateMachine returns the state machine for a member's next
// incarnation, as the profile says, and the machine that holds its state
// (for the clients' reads and the final checks). A durable one loads what
// the member's disk kept.
func (c *cluster) newStateMachine(id raft.NodeID, disk vfs.FS) (node.StateMachine, *machine, error) {
	if !c.profile.durableMachines {
		fresh := newMachine(id, c.recorder)
		return fresh, fresh, nil
	}
	durable, err := loadDurableMachine(id, c.recorder, disk)
	if err != nil {
		return nil, nil, err
	}
	c.recorder.tracef("node %d: its machine loaded its state from disk, up to index %d", id, durable.AppliedIndex())
	return durable, durable.machine, nil
}

var errInjected = fmt.Errorf("stack: injected fsync failure")

// crash stops a member as a power failure would: its disk first loses
// what was not synced (torn if random is not nil), so the node's next
// write fails, then the node stops; its memory is gone.
func (c *cluster) crash(m *member, random *rand.Rand) {
	c.mu.Lock()
	n, power := m.node, m.power.Load()
	m.node = nil
	if n != nil && c.options.loseDiskOnCrash {
		m.disk = newDisk(m)
	}
	c.mu.Unlock()
	if n == nil {
		return
	}
	power.crash(random)
	_ = n.Stop() // the storage is dead: closing it may fail
	c.recorder.tracef("node %d crashed (torn writes: %v)", m.id, random != nil)
}

// restartProcess stops a member's process and starts the next one at once
// on the same disk, without a power failure: what the stopped process
// wrote and did not sync stays readable (in the page cache, as after a
// kill -9, or a process that exits on a failed fsync, under a
// supervisor), and a later power failure may still lose it. The stopped
// incarnation's view of the disk is detached first, so that it writes
// nothing after its successor started.
func (c *cluster) restartProcess(m *member) {
	c.mu.Lock()
	n, power := m.node, m.power.Load()
	m.node = nil
	c.mu.Unlock()
	if n == nil {
		return
	}
	_ = n.Stop() // its storage may have failed: closing it may fail
	power.detach()
	c.recorder.tracef("node %d: its process restarted, the power kept", m.id)
	c.start(m)
}

// retire stops a removed member for good (its disk is kept, in case the
// removal turns out not to have happened).
func (c *cluster) retire(m *member) {
	c.mu.Lock()
	n := m.node
	m.node, m.retired = nil, true
	c.mu.Unlock()
	if n != nil {
		if err := n.Stop(); err != nil {
			c.recorder.tracef("node %d: stop: %v", m.id, err)
		}
	}
	c.recorder.tracef("node %d retired", m.id)
}

// addMember creates a new node that will join the cluster.
func (c *cluster) addMember() *member {
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	m := newMember(id, true)
	c.members[id] = m
	c.peers[id] = fmt.Sprintf("node-%d", id)
	c.mu.Unlock()
	c.start(m)
	return m
}

// running is a node that is up, with its state machine.
type running struct {
	id      raft.NodeID
	node    *node.Node
	machine *machine
}

// up returns the running nodes, in ID order.
func (c *cluster) up() []running {
	c.mu.Lock()
	defer c.mu.Unlock()
	var list []running
	for _, m := range c.members {
		if m.node != nil {
			list = append(list, running{id: m.id, node: m.node, machine: m.machine})
		}
	}
	slices.SortFunc(list, func(a, b running) int { return int(a.id) - int(b.id) })
	return list
}

// member returns a member by ID, or nil.
func (c *cluster) member(id raft.NodeID) *member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id]
}

// sortedMembers returns every member, in ID order.
func (c *cluster) sortedMembers() []*member {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := make([]*member, 0, len(c.members))
	for _, m := range c.members {
		list = append(list, m)
	}
	slices.SortFunc(list, func(a, b *member) int { return int(a.id) - int(b.id) })
	return list
}

// leader returns the running node that leads in the highest term, with its
// status, or ok false if none does.
func (c *cluster) leader(ctx context.Context) (leader running, status node.Status, ok bool) {
	for _, r := range c.up() {
		s, err := r.node.Status(ctx)
		if err == nil && s.Role == raft.RoleLeader && (!ok || s.Term > status.Term) {
			leader, status, ok = r, s, true
		}
	}
	return leader, status, ok
}

// stopAll stops every running node at the end of the run.
func (c *cluster) stopAll() {
	for _, r := range c.up() {
		_ = r.node.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		m.node = nil
	}
}

// ticks returns a duration of n ticks.
func (c *cluster) ticks(n int) time.Duration { return time.Duration(n) * c.options.TickInterval }

// timeout returns a context that ends after n ticks.
func (c *cluster) timeout(n int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.ticks(n))
}

// state returns whether a member is up and whether it was retired.
func (c *cluster) state(m *member) (up, retired bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.node != nil, m.retired
}

// address returns a member's peer address.
func (c *cluster) address(id raft.NodeID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peers[id]
}

// sleepTicks waits n ticks; false if ctx ended first.
func sleepTicks(ctx context.Context, c *cluster, n int) bool {
	timer := time.NewTimer(c.ticks(n))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
