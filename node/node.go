package node

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	stopping chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	failure  error // why the loop ended, if it failed; read after done

	// Owned by the loop goroutine.
	waiters map[uint64]*waiter
	reads   map[string]pendingRead
	// previousSnapshot is the newest snapshot saved or installed: the
	// next snapshot compacts the log to it (loop goroutine only).
	previousSnapshot raft.SnapshotMetadata
	// streamSnapshots: the transport streams snapshots through the
	// snapshot store (SnapshotStreamer), so the core gets them without
	// data. Set before the loop starts.
	streamSnapshots bool
	// ticks counts the loop's ticks, to age read registrations.
	ticks uint64
	// pendingApplies are reads whose index is known, waiting for apply.
	pendingApplies []pendingApply
	applied        uint64
	// machineApplied is a DurableStateMachine's AppliedIndex at Start:
	// entries at or below it are already in the machine's state.
	machineApplied uint64
	lastSnapshot   uint64
	// snapshotting is set while a capture runs in the background; its
	// outcome arrives on snapshotResults (buffered, so it never blocks).
	snapshotting    bool
	snapshotResults chan snapshotResult
	snapshotWork    sync.WaitGroup
	// writer persists Readies in the background with AsyncPersistence;
	// nil otherwise.
	writer    *logWriter
	addresses addressBook
	// promotions are learners to be made voters once caught up (AddVoter),
	// replicated like the addresses.
	promotions  map[raft.NodeID]bool
	leader      raft.NodeID
	membership  raft.Membership
	subscribers map[int]chan Event
	nextID      int
	// Counters, read by Status: messages dropped because the loop lagged
	// (atomic: the transport's goroutines write it), and messages the core
	// refused as malformed or misaddressed.
	dropped     atomic.Uint64
	badMessages uint64
}

// waiter is a caller waiting for the entry at an index to be applied.
type waiter struct {
	term uint64
	done chan outcome
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
		return nil, fmt.Errorf("node %d: open snapshots: %w", config.ID, err)
	}
	storage, err := wal.OpenStorage(config.FileSystem, filepath.Join(config.Directory, "wal"), wal.Options{SnapshotData: snapshots.Data, SegmentSize: config.SegmentBytes})
	if err != nil {
		return nil, fmt.Errorf("node %d: open log: %w", config.ID, err)
	}
	n := &Node{
		config:          config,
		log:             config.Logger.With("node", uint64(config.ID)),
		storage:         storage,
		snapshots:       snapshots,
		machine:         machine,
		transport:       config.Transport,
		incoming:        make(chan raft.Message, 4096),
		requests:        make(chan func()),
		stopping:        make(chan struct{}),
		done:            make(chan struct{}),
		waiters:         map[uint64]*waiter{},
		reads:           map[string]pendingRead{},
		addresses:       addressBook{},
		promotions:      map[raft.NodeID]bool{},
		snapshotResults: make(chan snapshotResult, 1),
		subscribers:     map[int]chan Event{},
	}
	if err := n.restore(); err != nil {
		storage.Close()
		return nil, err
	}
	if streamer, ok := config.Transport.(SnapshotStreamer); ok {
		streamer.UseSnapshotStore(snapshots)
		n.streamSnapshots = true
	}
	if err := n.startCore(); err != nil {
		storage.Close()
		return nil, err
	}
	if err := n.transport.Start(n.receive); err != nil {
		storage.Close()
		return nil, fmt.Errorf("node %d: start transport: %w", config.ID, err)
	}
	for id, address := range n.addresses {
		if id != config.ID {
			n.transport.SetPeer(id, address)
		}
	}
	go n.run()
	return n, nil
}

// restore brings storage and the state machine to the latest snapshot.
func (n *Node) restore() error {
	latest, found, continues, err := snapshotAheadOfLog(n.snapshots, n.storage)
	if err != nil {
		return fmt.Errorf("node %d: %w", n.config.ID, err)
	}
	if found {
		// The snapshot file was saved but the log not yet compacted to it,
		// or not yet replaced by it, when the node stopped: finish the job.
		if continues {
			err = n.storage.Compact(latest)
		} else {
			err = n.storage.ApplySnapshot(latest)
			if err == nil {
				err = n.raiseTermTo(latest.Metadata.Term)
			}
		}
		if err != nil {
			return fmt.Errorf("node %d: catch the log up with snapshot %d: %w", n.config.ID, latest.Metadata.Index, err)
		}
	}
	// The log's snapshot is read from its file as a stream, never whole.
	metadata := n.storage.Log().SnapshotMetadata()
	if durable, ok := n.machine.(DurableStateMachine); ok {
		n.machineApplied = durable.AppliedIndex()
	}
	if metadata.Index == 0 {
		for id, address := range n.config.Peers {
			n.addresses[id] = address
		}
		return nil
	}
	// If the machine's own state is newer than the snapshot, keep it, take
	// only the address book, and replay the log from the snapshot for the
	// runtime's records (machine entries up to machineApplied are skipped
	// in apply).
	book, promotions, err := n.readSnapshotFile(metadata, n.machineApplied < metadata.Index, sameSnapshot(metadata, latest.Metadata))
	if err != nil {
		return err
	}
	n.addresses, n.promotions = book, promotions
	n.applied = metadata.Index
	n.lastSnapshot = metadata.Index
	n.previousSnapshot = metadata
	return nil
}

// snapshotAheadOfLog returns the newest snapshot file that verifies (its
// metadata only, read through by streaming; zero if there is none), whether
// it is newer than the log's compaction point (found), as a crash leaves it
// between saving a snapshot and compacting or replacing the log, and
// whether the log
// continues it: the log keeps its entries after the snapshot only if it
// holds the snapshot's last entry (same index and term); otherwise the
// snapshot came from a leader and replaces the log, whose entries from that
// index on were never committed (Raft's Log Matching). Start finishes the
// job (restore); ReplayLog reads through it.
func snapshotAheadOfLog(snapshots *snap.Store, storage *wal.Storage) (latest raft.Snapshot, found, continues bool, err error) {
	metadata, err := snapshots.LoadMetadata()
	if errors.Is(err, snap.ErrNoSnapshot) {
		return raft.Snapshot{}, false, false, nil
	}
	if err != nil {
		return raft.Snapshot{}, false, false, fmt.Errorf("load snapshot: %w", err)
	}
	// Metadata only: the log keeps no snapshot data (its loader reads the
	// file when needed), and the image is streamed from the file.
	latest = raft.Snapshot{Metadata: metadata}
	if latest.Metadata.Index <= storage.Log().SnapshotMetadata().Index {
		return latest, false, false, nil
	}
	// Term reads the log's in-memory index: its only errors are
	// ErrCompacted and ErrUnavailable, both meaning "not held".
	last, _ := storage.LastIndex()
	term, termErr := storage.Term(latest.Metadata.Index)
	continues = latest.Metadata.Index <= last && termErr == nil && term == latest.Metadata.Term
	return latest, true, continues, nil
}

// sameSnapshot says whether two snapshot metadata name the same snapshot:
// snapshotAheadOfLog's latest was verified by reading its file through, so
// a start that then reads the log's snapshot need not verify it again.
func sameSnapshot(a, b raft.SnapshotMetadata) bool {
	return a.Index != 0 && a.Index == b.Index && a.Term == b.Term
}

// raiseTermTo keeps a node's term at least its log's last term after
// restore replaced the log with a leader's snapshot whose Ready never had
// its hard state saved (the crash that restore finishes). The node cannot
// have voted in that term: a vote is durable before it is sent, and would
// have raised the saved term. So the term is raised with no vote.
func (n *Node) raiseTermTo(term uint64) error {
	state, _, err := n.storage.InitialState()
	if err != nil || state.Term >= term {
		return err
	}
	return n.storage.Save(raft.HardState{Term: term, Commit: state.Commit}, nil)
}

// installSnapshot restores the state machine and address book from a
// snapshot: from its data if it carries any, otherwise from its file in
// the snapshot store (a snapshot streamed in by the transport, or the
// node's own at start).
func (n *Node) installSnapshot(snapshot raft.Snapshot) error {
	if snapshot.Data == nil {
		// Streamed in by the transport: snap.Store.Install verified the
		// file before it moved it into place.
		book, promotions, err := n.readSnapshotFile(snapshot.Metadata, true, true)
		if err != nil {
			return err
		}
		n.addresses, n.promotions = book, promotions
		n.applied = snapshot.Metadata.Index
		return nil
	}
	book, promotions, image, err := decodeSnapshot(snapshot.Data)
	if err != nil {
		return fmt.Errorf("node %d: snapshot %d: %w", n.config.ID, snapshot.Metadata.Index, err)
	}
	if err := n.machine.Restore(bytes.NewReader(image)); err != nil {
		return fmt.Errorf("node %d: restore state machine from snapshot %d: %w", n.config.ID, snapshot.Metadata.Index, err)
	}
	n.addresses, n.promotions = book, promotions
	n.applied = snapshot.Metadata.Index
	return nil
}

// readSnapshotFile is the package's readSnapshotFile on the node's store
// and state machine, with the node's ID in its errors.
func (n *Node) readSnapshotFile(metadata raft.SnapshotMetadata, restore, verified bool) (addressBook, map[raft.NodeID]bool, error) {
	var machine StateMachine
	if restore {
		machine = n.machine
	}
	book, promotions, err := readSnapshotFile(n.snapshots, metadata, machine, verified)
	if err != nil {
		return nil, nil, fmt.Errorf("node %d: %w", n.config.ID, err)
	}
	return book, promotions, nil
}

// readSnapshotFile reads the snapshot store's file for metadata without
// holding it in memory: a first pass verifies its checksum (unless the
// caller just did), so that nothing is restored from a damaged file (a
// durable state machine would keep what it restored); a second decodes
// the runtime's header and, if machine is not nil, streams the image into
// machine.Restore.
func readSnapshotFile(snapshots *snap.Store, metadata raft.SnapshotMetadata, machine StateMachine, verified bool) (addressBook, map[raft.NodeID]bool, error) {
	fail := func(format string, err error) (addressBook, map[raft.NodeID]bool, error) {
		return nil, nil, fmt.Errorf(format+" snapshot %d: %w", metadata.Index, err)
	}
	if !verified {
		verify, err := snapshots.OpenData(metadata)
		if err != nil {
			return fail("open", err)
		}
		_, err = io.Copy(io.Discard, verify)
		verify.Close()
		if err != nil {
			return fail("verify", err)
		}
	}
	data, err := snapshots.OpenData(metadata)
	if err != nil {
		return fail("open", err)
	}
	defer data.Close()
	buffered := bufio.NewReaderSize(data, snapshotReadBuffer)
	book, promotions, err := decodeSnapshotHeader(buffered)
	if err != nil {
		return fail("decode", err)
	}
	if machine != nil {
		if err := machine.Restore(buffered); err != nil {
			return fail("restore state machine from", err)
		}
	}
	return book, promotions, nil
}

// snapshotReadBuffer is the buffer through which a snapshot file is
// streamed into the state machine.
const snapshotReadBuffer = 256 << 10

func (n *Node) startCore() error {
	var seed [16]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return fmt.Errorf("node %d: seed: %w", n.config.ID, err)
	}
	var voters []raft.NodeID
	for id := range n.config.Peers {
		if !n.config.Join {
			voters = append(voters, id)
		}
	}
	slices.Sort(voters)
	n.coreStorage = &coreStorage{Storage: n.storage, log: n.log, withoutData: n.streamSnapshots}
	raftConfig := raft.Config{
		ID:                n.config.ID,
		Storage:           n.coreStorage,
		Random:            rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])),
		InitialMembership: raft.Membership{Voters: voters},
		Join:              n.config.Join,
		Applied:           n.applied,
		ElectionTicks:     n.config.ElectionTicks,
		HeartbeatTicks:    n.config.HeartbeatTicks,
		AsyncPersistence:  n.config.AsyncPersistence,
	}
	if n.config.RaftConfig != nil {
		n.config.RaftConfig(&raftConfig)
	}
	if raftConfig.AsyncPersistence {
		n.writer = newLogWriter(n.storage, n.config.ObservePersist)
	}
	core, err := raft.NewCore(raftConfig)
	if err != nil {
		return fmt.Errorf("node %d: %w", n.config.ID, err)
	}
	n.core = core
	n.membership = core.Membership()
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
