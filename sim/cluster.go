package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// cluster is one simulated run: nodes, network, workload and checker, all
// driven by one scheduler and one seeded random source.
type cluster struct {
	options   Options
	random    *rand.Rand
	scheduler scheduler
	nodes     []*node // nodes[id-1]
	ids       []raft.NodeID
	// initialVoters bootstrap the cluster; the other nodes are spares that
	// join through membership changes.
	initialVoters []raft.NodeID
	network       network
	checker       checker
	workload      workload
	// profile holds the per-seed choices: rates, limits, core settings.
	profile profile
	// faulty is true during the faulty phase, false once everything heals.
	faulty bool
	step   int
	// healTicks is how long the liveness phase took.
	healTicks int
	// linearizable and historyFile are the history check's outcome.
	linearizable bool
	historyFile  string
}

// profile is what a seed chooses about a run besides its events.
type profile struct {
	dropRate         float64
	duplicateRate    float64
	maxLatency       uint64
	delayRate        float64
	faultInterval    uint64
	maxFsyncLatency  uint64
	maxInflight      int
	maxInflightSmall int
	maxAppendBytes   uint64
	disablePreVote   bool
	disableQuorumChk bool
	// leaseReads and maxDrift configure lease-based reads.
	leaseReads bool
	maxDrift   int
}

func newCluster(options Options) *cluster {
	random := rand.New(rand.NewPCG(options.Seed, 0x10c857e9))
	c := &cluster{options: options, random: random, faulty: true}
	c.profile = c.chooseProfile()
	c.network = newNetwork()
	c.checker = newChecker(c)
	c.workload = newWorkload()
	total := options.Nodes
	if options.has(FaultMember) {
		total += spareNodes
	}
	for i := 1; i <= total; i++ {
		c.ids = append(c.ids, raft.NodeID(i))
	}
	c.initialVoters = c.ids[:options.Nodes]
	for _, id := range c.ids {
		n := &node{id: id, storage: raft.NewMemoryStorage(), tickInterval: tickInterval, kv: map[string]string{}}
		if options.has(FaultSkew) {
			// Up to ±20% clock rate difference between nodes.
			n.tickInterval = tickInterval*8/10 + c.random.Uint64N(tickInterval*4/10+1)
		}
		c.nodes = append(c.nodes, n)
		c.startNode(n)
	}
	c.scheduleFault()
	c.scheduleOperation()
	c.workload.scheduleNext(c)
	c.tracef("seed %d: %d nodes, profile %+v", options.Seed, options.Nodes, c.profile)
	return c
}

func (c *cluster) chooseProfile() profile {
	p := profile{maxLatency: 10, faultInterval: 20 * tickInterval}
	o := &c.options
	if o.has(FaultDrop) {
		p.dropRate = c.random.Float64() * 0.10
	}
	if o.has(FaultDuplicate) {
		p.duplicateRate = c.random.Float64() * 0.05
	}
	if o.has(FaultReorder) {
		p.maxLatency = 10 + c.random.Uint64N(90)
	}
	if o.has(FaultDelay) {
		p.delayRate = c.random.Float64() * 0.03
	}
	p.faultInterval = uint64(1+c.random.IntN(35)) * tickInterval
	// Some seeds get slow disks: the longer a write takes, the likelier a
	// crash lands while it is in progress, and the more a leader's appends
	// race ahead of its own write.
	p.maxFsyncLatency = 10
	if c.random.IntN(2) == 0 {
		p.maxFsyncLatency = 10 + c.random.Uint64N(tickInterval)
	}
	// Small flow-control limits exercise pipelining, pausing and message
	// splitting, which large ones would rarely reach.
	p.maxInflight = 1 + c.random.IntN(16)
	p.maxAppendBytes = uint64(64 + c.random.IntN(1000))
	if c.random.IntN(4) == 0 {
		// One entry per append: old-term entries then travel apart from
		// the new leader's entry, the situation of Raft's Figure 8. With
		// a window of one as well, a lagging node catches up at one entry
		// per round trip, too slowly for the liveness bound to mean much.
		p.maxAppendBytes = 1
		p.maxInflight = max(p.maxInflight, 4)
	}
	// A window for small appends within it, so that a leader holds some
	// back (those under a sixteenth of maxAppendBytes: here, one or two
	// entries) while the follower has not answered.
	p.maxInflightSmall = 1 + c.random.IntN(p.maxInflight)
	p.disablePreVote = c.random.IntN(5) == 0
	p.disableQuorumChk = c.random.IntN(5) == 0
	if o.has(FaultMember) {
		// A removed node that never learns of its removal keeps
		// campaigning; only CheckQuorum's lease keeps it from disrupting
		// the cluster forever (thesis §4.2.3), so runs that change the
		// membership keep it on.
		p.disableQuorumChk = false
		// Likewise PreVote: without it, a removed node that never heard
		// of its removal raises everyone's term with each election it
		// starts, and a leader that learns the higher term steps down.
		p.disablePreVote = false
	}
	if !p.disableQuorumChk && c.random.IntN(2) == 0 {
		// Lease reads on half the seeds that allow them. The drift bound
		// covers the simulated skew: ±20% clock rates make ten ticks of
		// a fast follower as short as 6.7 ticks of a slow leader.
		p.leaseReads = true
		p.maxDrift = 1
		if o.has(FaultSkew) {
			p.maxDrift = 4
		}
	}
	return p
}

func (c *cluster) node(id raft.NodeID) *node { return c.nodes[id-1] }

func (c *cluster) tracef(format string, args ...any) {
	if c.options.Trace != nil {
		c.options.Trace(fmt.Sprintf("t=%-7d ", c.scheduler.now) + fmt.Sprintf(format, args...))
	}
}

// startNode (re)creates a node's core from its durable storage.
func (c *cluster) startNode(n *node) {
	var initial raft.Membership
	if slices.Contains(c.initialVoters, n.id) {
		initial.Voters = c.initialVoters
	}
	core, err := raft.NewCore(raft.Config{
		ID:                      n.id,
		Storage:                 n.storage,
		Random:                  rand.NewPCG(c.random.Uint64(), c.random.Uint64()),
		InitialMembership:       initial,
		Join:                    len(initial.Voters) == 0,
		Applied:                 n.applied,
		ElectionTicks:           10,
		HeartbeatTicks:          1,
		DisablePreVote:          c.profile.disablePreVote,
		DisableCheckQuorum:      c.profile.disableQuorumChk,
		MaxAppendBytes:          c.profile.maxAppendBytes,
		MaxInflightAppends:      c.profile.maxInflight,
		MaxInflightSmallAppends: c.profile.maxInflightSmall,
		LeaseReads:              c.profile.leaseReads,
		MaxClockDriftTicks:      c.profile.maxDrift,
		AsyncPersistence:        c.options.AsyncPersistence,
	})
	if err != nil {
		c.checker.violate("restart", "node %d cannot restart from its storage: %v", n.id, err)
		return
	}
	n.core = core
	n.up = true
	n.incarnation++
	n.pending = nil
	n.writes = nil
	n.inbox = nil
	n.reads = map[string]*pendingRead{}
	n.volatile = n.durable.clone()
	n.summary = core.Summary()
	n.ticks, n.leaderContact, n.contactTerm = 0, 0, 0
	c.scheduler.schedule(c.random.Uint64N(n.tickInterval)+1, &event{kind: eventTick, node: n.id, incarnation: n.incarnation})
}

// crashNode stops a node. Whatever it was persisting is lost, except, with
// torn writes, a prefix of the entries (entries are written before the hard
// state, so a torn batch never holds a commit index beyond its entries).
func (c *cluster) crashNode(n *node) {
	writing := n.pending
	if len(n.writes) > 0 {
		writing = &n.writes[0]
	}
	if writing != nil && writing.Snapshot.IsEmpty() && c.options.has(FaultTorn) && c.random.IntN(2) == 0 {
		entries := writing.Entries
		kept := entries[:c.random.IntN(len(entries)+1)]
		if err := n.storage.Append(kept); err != nil {
			c.checker.violate("storage", "node %d: torn append: %v", n.id, err)
		}
		n.durable.append(kept)
		c.tracef("node %d crashes mid-write: %d of %d entries reach the disk", n.id, len(kept), len(entries))
	} else {
		c.tracef("node %d crashes", n.id)
	}
	n.up = false
	n.membershipAtCrash = n.core.Membership()
	n.core = nil
	n.pending = nil
	n.writes = nil
	n.inbox = nil
	n.reads = nil
	n.incarnation++
}

// handle processes one scheduled event.
func (c *cluster) handle(e *event) {
	switch e.kind {
	case eventTick:
		n := c.node(e.node)
		if !n.up || n.incarnation != e.incarnation {
			return
		}
		c.scheduler.schedule(n.tickInterval, &event{kind: eventTick, node: n.id, incarnation: n.incarnation})
		c.input(n, input{kind: eventTick})
	case eventDeliver:
		c.network.deliver(c, e.message)
	case eventPersisted:
		n := c.node(e.node)
		if n.up && n.incarnation == e.incarnation {
			if c.options.AsyncPersistence {
				c.completeWrite(n)
			} else {
				c.completePersist(n)
			}
		}
	case eventPropose:
		c.workload.propose(c)
	case eventFault:
		c.injectFault()
	case eventRestart:
		n := c.node(e.node)
		if !n.up {
			c.tracef("node %d restarts (term %d, %d entries, applied %d)", n.id, n.storage.HardState().Term, n.durable.lastIndex(), n.applied)
			c.startNode(n)
		}
	case eventHeal:
		e.heal()
	case eventOperation:
		c.runOperation()
	case eventCrash:
		n := c.node(e.node)
		if c.faulty && n.up && n.incarnation == e.incarnation {
			c.crashNode(n)
			downtime := e.downtime
			if downtime == 0 {
				downtime = uint64(1+c.random.IntN(30)) * tickInterval
			}
			c.scheduler.schedule(downtime, &event{kind: eventRestart, node: n.id})
		}
	}
}

// input feeds one input to a node, or queues it while the node persists.
func (c *cluster) input(n *node, in input) {
	if n.pending != nil {
		n.inbox = append(n.inbox, in)
		return
	}
	c.feed(n, in)
	c.maybeTakeReady(n)
}

func (c *cluster) feed(n *node, in input) {
	switch in.kind {
	case eventTick:
		n.core.Tick()
		n.ticks++
	case eventDeliver:
		before := n.core.Summary()
		if err := n.core.Step(in.message); err != nil {
			if errors.Is(err, raft.ErrInvalidMessage) {
				c.checker.violate("message", "node %d rejected %v: %v", n.id, in.message, err)
			}
		}
		if in.message.Type == raft.MessageAppend {
			c.checker.checkFollowerCommit(n, in.message, before.Commit)
		}
		c.checker.checkLeaderLease(n, in.message, before)
	case eventPropose:
		c.workload.proposeOn(c, n, in.command)
	case eventRead:
		c.workload.readOn(c, n, in.command)
	case eventUnreachable:
		n.core.ReportUnreachable(in.message.To)
	}
	c.checker.observe(n)
}

// maybeTakeReady takes the core's next Ready: it sends what may leave now
// and starts persisting the rest.
func (c *cluster) maybeTakeReady(n *node) {
	if c.options.AsyncPersistence {
		c.takeReadiesAsync(n)
		return
	}
	if n.pending != nil || !n.core.HasReady() {
		return
	}
	ready := n.core.Ready()
	c.checker.onReady(n, ready)
	if c.crashBeforeSending(n) {
		return
	}
	c.maybeCrashAfterVote(n, ready)
	for _, m := range ready.SendNow {
		c.network.send(c, m)
	}
	n.pending = &ready
	if !ready.MustSync {
		// Nothing, or only a new commit index, to write: no fsync to
		// wait for (raft.Ready.MustSync).
		c.completePersist(n)
		return
	}
	// The disk takes a little while; the node queues inputs meanwhile.
	c.scheduler.schedule(1+c.random.Uint64N(c.profile.maxFsyncLatency), &event{kind: eventPersisted, node: n.id, incarnation: n.incarnation})
}

// completePersist makes the pending Ready durable, sends what waited for
// it, applies committed entries and advances the core; then it feeds the
// inputs that queued meanwhile, all before the next Ready (batching).
func (c *cluster) completePersist(n *node) {
	ready := *n.pending
	if !c.writeToDisk(n, ready) {
		return
	}
	for _, m := range ready.SendAfterPersist {
		c.network.send(c, m)
	}
	c.applyReady(n, ready)
	n.core.Advance(ready)
	n.pending = nil
	c.checker.observe(n)
	inbox := n.inbox
	n.inbox = nil
	for _, in := range inbox {
		c.feed(n, in)
	}
	c.maybeTakeReady(n)
}

// writeToDisk makes a Ready's snapshot, entries and hard state durable, in
// that order; it reports false after a storage violation.
func (c *cluster) writeToDisk(n *node, ready raft.Ready) bool {
	if !ready.Snapshot.IsEmpty() {
		// The snapshot, its hard state and the state machine it carries
		// are installed as one step.
		if err := n.storage.ApplySnapshot(ready.Snapshot); err != nil {
			c.checker.violate("storage", "node %d: apply snapshot: %v", n.id, err)
			return false
		}
		kv, err := decodeState(ready.Snapshot.Data)
		if err != nil {
			c.checker.violate("snapshot", "node %d: %v", n.id, err)
			return false
		}
		n.kv = kv
		n.applied = ready.Snapshot.Metadata.Index
		n.durable.resetTo(&c.checker.committed, n.applied)
		c.tracef("node %d: installed snapshot at %d/%d", n.id, ready.Snapshot.Metadata.Index, ready.Snapshot.Metadata.Term)
	}
	if err := n.storage.Append(ready.Entries); err != nil {
		c.checker.violate("storage", "node %d: append: %v", n.id, err)
		return false
	}
	n.durable.append(ready.Entries)
	if !ready.HardState.IsEmpty() && (ready.MustSync || c.random.IntN(2) == 0) {
		// A commit-only hard state is written without an fsync: half the
		// time it is as good as lost (a crash would take it), and a
		// restarted node must learn its commit index again.
		n.storage.SetHardState(ready.HardState)
	}
	return true
}

// applyReady applies a Ready's committed entries and answers its reads.
func (c *cluster) applyReady(n *node, ready raft.Ready) {
	for _, entry := range ready.CommittedEntries {
		c.checker.onApply(n, entry)
		c.workload.onApply(c, n, entry)
		if key, value, ok := parsePut(entry.Data); ok && entry.Type == raft.EntryNormal {
			n.kv[key] = value
		}
		n.applied = entry.Index
	}
	c.workload.onReadStates(c, n, ready.ReadStates)
}
