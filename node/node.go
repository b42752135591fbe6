package node

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockstepdb/lockstep/internal/retry"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
	"github.com/lockstepdb/lockstep/wal"
)

// Node is a running member of a cluster. Its methods are safe for
// concurrent use; each blocking one takes a context and returns when the
// context ends, the node stops, or it has its answer.
type Node struct {
	config    Config
	log       *slog.Logger
	core      *raft.Core
	storage   *wal.Storage
	snapshots *snap.Store
	machine   StateMachine
	transport Transport
	// coreStorage is storage as the core reads it (see storage.go).
	coreStorage *coreStorage

	// incoming holds messages from peers until the loop steps them;
	// requests holds closures that callers run on the loop goroutine.
	incoming chan raft.Message
	requests chan func()
	// proposals holds callers' proposals until the loop takes them all
	// at once (see proposalQueue).
	proposals *proposalQueue
	// unreachable holds peers the transport could not reach, for the loop
	// to report to the core (see UnreachableReporter).
	unreachable chan raft.NodeID
	stopping    chan struct{}
	done        chan struct{}
	stopOnce    sync.Once
	failure     error // why the loop ended, if it failed; read after done

	// Owned by the loop goroutine.
	waiters map[uint64]*waiter
	// proposalSpare is the slice the proposal queue gets back when the
	// loop takes what it holds.
	proposalSpare []*waiter
	// stages times proposals for Config.ObserveProposal; nil without it.
	stages *stageClock
	// roundTrips times heartbeats for Config.ObservePeerRoundTrip; nil
	// without it.
	roundTrips *roundTrips
	reads      map[string]pendingRead
	// previousSnapshot is the newest snapshot saved or installed: the
	// next snapshot compacts the log to it (loop goroutine only).
	previousSnapshot raft.SnapshotMetadata
	// streamSnapshots: the transport streams snapshots through the
	// snapshot store (SnapshotStreamer), so the core gets them without
	// data. Set before the loop starts.
	streamSnapshots bool
	// ticks counts the loop's ticks, to age read registrations.
	ticks uint64
	// pendingApplies are reads whose index is known, waiting for the loop
	// to hand it to the applier.
	pendingApplies []pendingApply
	// applied is the last index handed to the applier: the core counts
	// it as applied, and the machine reaches it behind the loop.
	applied uint64
	// machineApplied is a DurableStateMachine's AppliedIndex at Start:
	// entries at or below it are already in the machine's state.
	machineApplied uint64
	lastSnapshot   uint64
	// snapshotting is set while a capture runs in the background; its
	// outcome arrives on snapshotResults (buffered, so it never blocks).
	snapshotting    bool
	snapshotResults chan snapshotResult
	// snapshotRetry paces captures after one that could not be saved (a
	// full disk, an unreadable image): the policy would otherwise start
	// the next at once, on every pass of the loop.
	snapshotRetry retry.Backoff[struct{}]
	snapshotWork  sync.WaitGroup
	// imageWanted is set when a follower needs a snapshot with an image
	// and none that can be sent has one (snapshot_image.go): the next
	// capture takes one. capturingImage is set while a capture with an
	// image runs. imageSnapshot is the newest snapshot known to hold an
	// image.
	imageWanted, capturingImage bool
	imageSnapshot               raft.SnapshotMetadata
	// writer persists Readies in the background with AsyncPersistence;
	// nil otherwise.
	writer *logWriter
	// applier applies committed entries on a goroutine of its own.
	applier *applier
	// tenure is set by the loop while the core leads, nil otherwise: only
	// a leader's proposers wait for its machine (Propose), until the
	// tenure ends; the others are told at once where the leader is.
	tenure    atomic.Pointer[tenure]
	addresses addressBook
	// promotions are learners to be made voters once caught up (AddVoter),
	// replicated like the addresses.
	promotions  map[raft.NodeID]bool
	leader      raft.NodeID
	membership  raft.Membership
	subscribers map[int]chan Event
	nextID      int
	removals    *removals
	// Counters, read by Status: messages dropped because the loop lagged
	// (atomic: the transport's goroutines write it), and messages the core
	// refused as malformed or misaddressed.
	dropped     atomic.Uint64
	badMessages uint64
}

type outcome struct {
	result Result
	err    error
}

// Start opens (or creates) the node's data in config.Directory, restores the
// state machine from the latest snapshot, and starts the loop. Committed
// entries after the snapshot are applied again as the core hands them out.
// A corrupt log (*wal.CorruptionError) refuses to start: see
// docs/storage.md for what an operator does then.
func Start(config Config, machine StateMachine) (*Node, error) {
	config = config.withDefaults()
	if err := config.validate(); err != nil {
		return nil, err
	}
	if machine == nil {
		return nil, errors.New("node: a state machine is required")
	}
	snapshots, err := snap.Open(config.FileSystem, filepath.Join(config.Directory, "snap"), snap.Options{})
	if err != nil {
		return nil, fmt.Errorf("node %v: open snapshots: %w", config.ID, err)
	}
	storage, err := wal.OpenStorage(config.FileSystem, filepath.Join(config.Directory, "wal"), wal.Options{SnapshotData: snapshots.Data, SegmentSize: config.SegmentBytes, ObserveSync: config.ObservePersist})
	if err != nil {
		return nil, fmt.Errorf("node %v: open log: %w", config.ID, err)
	}
	n := &Node{
		config:          config,
		log:             config.Logger.With("node", config.ID.String()),
		storage:         storage,
		snapshots:       snapshots,
		machine:         machine,
		transport:       config.Transport,
		incoming:        make(chan raft.Message, 4096),
		unreachable:     make(chan raft.NodeID, 64),
		requests:        make(chan func()),
		proposals:       newProposalQueue(),
		stopping:        make(chan struct{}),
		done:            make(chan struct{}),
		waiters:         map[uint64]*waiter{},
		reads:           map[string]pendingRead{},
		addresses:       addressBook{},
		promotions:      map[raft.NodeID]bool{},
		snapshotResults: make(chan snapshotResult, 1),
		subscribers:     map[int]chan Event{},
		removals:        newRemovals(),
	}
	if config.ObserveProposal != nil {
		n.stages = &stageClock{}
	}
	n.roundTrips = newRoundTrips(config.ObservePeerRoundTrip, time.Duration(config.ElectionTicks)*config.TickInterval)
	if err := n.restore(); err != nil {
		storage.Close()
		return nil, err
	}
	n.applier = newApplier(machine, config.ObserveProposal, n.applied)
	if streamer, ok := config.Transport.(SnapshotStreamer); ok {
		streamer.UseSnapshotStore(snapshots)
		n.streamSnapshots = true
	}
	if aware, ok := config.Transport.(RemovalAware); ok {
		aware.UseRemovals(n.WasRemoved, n.NoteRemoved)
	}
	if err := n.startCore(); err != nil {
		storage.Close()
		return nil, err
	}
	if reporter, ok := config.Transport.(UnreachableReporter); ok {
		reporter.OnUnreachable(n.reportUnreachable)
	}
	if err := n.transport.Start(n.receive); err != nil {
		storage.Close()
		return nil, fmt.Errorf("node %v: start transport: %w", config.ID, err)
	}
	for id, address := range n.addresses {
		if id != config.ID {
			n.transport.SetPeer(id, address)
		}
	}
	go n.run()
	return n, nil
}

func (n *Node) startCore() error {
	var seed [16]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return fmt.Errorf("node %v: seed: %w", n.config.ID, err)
	}
	var voters []raft.NodeID
	for id := range n.config.Peers {
		if !n.config.Join {
			voters = append(voters, id)
		}
	}
	slices.Sort(voters)
	n.coreStorage = &coreStorage{Storage: n.storage, log: n.log, withoutData: n.streamSnapshots,
		choose: n.snapshotToSend, data: n.snapshots.Data}
	// A durable machine applied only committed entries, once durable in
	// this log: the core may count them committed though the log's commit
	// record trails (commit-only hard states are not written). Without it
	// a restarted leader whose follower needs an image could not take one
	// (see maybeSnapshot) until it committed past the machine, which in a
	// configuration that needs that follower it never does.
	committed := n.machineApplied
	if last, err := n.coreStorage.LastIndex(); err != nil {
		return fmt.Errorf("node %v: last index of the log: %w", n.config.ID, err)
	} else if committed > last {
		n.log.Warn("the state machine is ahead of the log", "machine", committed, "log", last)
		committed = last
	}
	raftConfig := raft.Config{
		ID:                n.config.ID,
		Storage:           n.coreStorage,
		Random:            rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])),
		InitialMembership: raft.Membership{Voters: voters},
		Join:              n.config.Join,
		Applied:           n.applied,
		Committed:         committed,
		ElectionTicks:     n.config.ElectionTicks,
		HeartbeatTicks:    n.config.HeartbeatTicks,
		AsyncPersistence:  n.config.AsyncPersistence,
	}
	if n.config.RaftConfig != nil {
		n.config.RaftConfig(&raftConfig)
	}
	if raftConfig.AsyncPersistence {
		n.writer = newLogWriter(n.storage, n.log, n.config.FileSystem, filepath.Join(n.config.Directory, "wal"))
	}
	core, err := raft.NewCore(raftConfig)
	if err != nil {
		return fmt.Errorf("node %v: %w", n.config.ID, err)
	}
	n.core = core
	n.membership = core.Membership()
	// Removals start from a committed configuration: the snapshot's, or
	// the bootstrap's for a cluster that has none; the entries after it
	// are applied again, in order. (The core's own may hold a change
	// appended but not committed, which must not count as a removal.)
	if _, committed, err := n.storage.InitialState(); err == nil {
		if len(committed.Voters)+len(committed.OutgoingVoters)+len(committed.Learners) == 0 {
			committed = raft.Membership{Voters: voters}
		}
		n.removals.observe(committed, n.config.ID)
	}
	return nil
}

// receive is the transport's handler: it queues a message for the loop, or
// drops it if the loop is that far behind (the core retransmits).
func (n *Node) receive(m raft.Message) {
	select {
	case n.incoming <- m:
	default:
		n.dropped.Add(1)
		n.log.Debug("incoming queue full; message dropped", "message", m.String())
	}
}

// reportUnreachable is the transport's callback for a peer it could not
// reach: it queues the peer for the loop, which tells the core
// (raft.Core.ReportUnreachable), or drops the report if the queue is full
// (the core learns the same from the next heartbeat round).
func (n *Node) reportUnreachable(id raft.NodeID) {
	select {
	case n.unreachable <- id:
	default:
	}
}

// do runs f on the loop goroutine and waits for it.
func (n *Node) do(ctx context.Context, f func()) error {
	finished := make(chan struct{})
	select {
	case n.requests <- func() { f(); close(finished) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
	select {
	case <-finished:
		return nil
	case <-n.done:
		return ErrStopped
	}
}

// Stop stops the node: the loop ends after the Ready it is handling, so
// everything acknowledged is durable; then the transport and the log close.
// Calls waiting on the node return ErrStopped. It is safe to call twice.
func (n *Node) Stop() error {
	var err error
	n.stopOnce.Do(func() {
		close(n.stopping)
		<-n.done
		err = errors.Join(n.transport.Stop(), n.storage.Close())
	})
	return err
}

// Err returns why the node stopped by itself (a failed disk write), or nil.
// Only meaningful after the node is done.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.failure
	default:
		return nil
	}
}

func (n *Node) electionTimeout() time.Duration {
	return time.Duration(n.config.ElectionTicks) * n.config.TickInterval
}
