package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/transport"
	"github.com/lockstepdb/lockstep/vfs"
)

// Config configures a node. Zero values of optional fields get the
// defaults documented on each.
type Config struct {
	// ID is this node's identity in the cluster; never 0.
	ID raft.NodeID
	// Directory holds the node's data: the WAL in Directory/wal and
	// snapshots in Directory/snap.
	Directory string
	// FileSystem is where Directory lives. Default vfs.OS; tests use an
	// in-memory vfs.MemFS.
	FileSystem vfs.FS
	// Peers maps the cluster's members to their peer addresses. Without
	// Join it bootstraps a new cluster whose initial voters are exactly
	// these nodes (this one included). With Join it only says where the
	// existing members listen, so that this node can answer them. Once the
	// node has state on disk, addresses come from its log and snapshots.
	Peers map[raft.NodeID]string
	// Join starts a node that is being added to an existing cluster (as a
	// learner): it learns the membership from the leader.
	Join bool
	// Transport carries messages to and from peers. Required unless
	// ListenAddress is set.
	Transport Transport
	// ListenAddress, when Transport is nil, makes Start create the gRPC
	// transport of package transport, listening on this address (such as
	// "10.0.0.1:7001", usually this node's entry in Peers), with ClusterID
	// and PeerTLS; Stop stops it. For the transport's other settings,
	// create it yourself and set Transport.
	ListenAddress string
	// ClusterID names the cluster for the transport created from
	// ListenAddress: streams from nodes configured with another ID are
	// refused, so two clusters sharing hosts never mix. Default 0.
	ClusterID uint64
	// PeerTLS, if set, secures the transport created from ListenAddress
	// (see transport.Config.TLS: mutual TLS when ClientCAs is set).
	PeerTLS *tls.Config

	// TickInterval is the core's clock period. Default 100 ms.
	TickInterval time.Duration
	// ElectionTicks and HeartbeatTicks: see raft.Config. Defaults 10 and 1
	// (an election timeout of 1 to 2 s with the default tick).
	ElectionTicks  int
	HeartbeatTicks int
	// SnapshotEntries takes a snapshot and compacts the log every that
	// many applied entries. Default 10,000; negative disables snapshots.
	SnapshotEntries int
	// KeepSnapshotImages makes every snapshot hold the state machine's
	// whole image, as it always does for a machine that is not a
	// DurableStateMachine. By default a durable machine's snapshots hold
	// no image: the machine keeps its state on disk itself, so a snapshot
	// only makes it durable (Snapshot, its image closed unread) and lets
	// the log be compacted; a snapshot with an image is taken when a
	// follower needs one. Writing the whole store every SnapshotEntries costs a large
	// store a quarter of its write rate (docs/benchmark-method.md); keeping
	// images lets a member whose machine's files were lost start again from
	// its own snapshot instead of being caught up by the leader.
	KeepSnapshotImages bool
	// SegmentBytes is the WAL's segment size (see wal.Options). Default
	// 64 MiB.
	SegmentBytes int64
	// MaxProposalBytes bounds one command. Default 1 MiB; negative: no
	// bound, for an embedder that bounds its commands itself before it
	// proposes them (lockstep's server does, with kv.NewCommand).
	MaxProposalBytes int
	// Logger receives the node's logs. Default slog.Default().
	Logger *slog.Logger
	// ObservePersist, if set, is called after each write of the log that
	// reaches the disk (a batch of records written to its segment and
	// fsynced) with how long the write and the fsync took, for metrics; a
	// save that writes nothing at once (a hard state that changes only the
	// commit index, see wal.Log.Save) is not observed. It is called from
	// the goroutine that wrote (the loop, or with AsyncPersistence the
	// writer goroutine): it must return at once and be safe for
	// concurrent use.
	ObservePersist func(elapsed time.Duration)
	// ObservePeerRoundTrip, if set, is called on the leader when a peer
	// answers a heartbeat, with how long it took since the heartbeat left
	// (the oldest unanswered one, if several: network, both transports
	// and the peer's loop). A heartbeat unanswered for an election
	// timeout is dropped, not timed. It is called from the loop
	// goroutine: it must return at once; it must not call the node.
	ObservePeerRoundTrip func(peer raft.NodeID, elapsed time.Duration)
	// ObserveProposal, if set, is called on the leader for every proposal
	// applied, with the moments it passed each stage (a latency budget for
	// metrics), from the applier's goroutine just before Propose returns.
	// It must return at once; it must not call the node.
	ObserveProposal func(ProposalTimes)
	// AsyncPersistence lets the loop go on stepping messages and taking
	// proposals while the log's write (and fsync) runs: a writer goroutine
	// persists each Ready and reports it back (raft.Config.AsyncPersistence;
	// RaftConfig may set that too). The leader still counts itself only
	// once its write is durable, and votes and acknowledgements still leave
	// only after the write they vouch for. With it, a log whose disk has no
	// space for its next segment pauses the writes until space returns,
	// and the node keeps running (see Node.LogDiskFull); without it, that
	// stops the node, as any failed write does. lockstep's server sets it.
	AsyncPersistence bool
	// RaftConfig, if set, is called with the core's configuration before
	// the node starts, to set options not mirrored here.
	RaftConfig func(*raft.Config)

	// transportError is why the transport for ListenAddress could not be
	// created (withDefaults cannot fail; validate reports it).
	transportError error
}

func (c Config) withDefaults() Config {
	if c.FileSystem == nil {
		c.FileSystem = vfs.OS
	}
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 1
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10000
	}
	if c.MaxProposalBytes == 0 {
		c.MaxProposalBytes = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Transport == nil && c.ListenAddress != "" && c.ID != raft.None {
		// New only validates; nothing listens until the node starts it.
		network, err := transport.New(transport.Config{ID: c.ID, ClusterID: c.ClusterID, ListenAddress: c.ListenAddress, TLS: c.PeerTLS, Logger: c.Logger})
		if err != nil {
			c.transportError = fmt.Errorf("node: config: transport on %s: %w", c.ListenAddress, err)
		} else {
			c.Transport = network
		}
	}
	return c
}

func (c Config) validate() error {
	if c.ID == raft.None {
		return errors.New("node: config: ID must not be 0")
	}
	if c.Directory == "" {
		return errors.New("node: config: Directory is required")
	}
	if c.transportError != nil {
		return c.transportError
	}
	if c.Transport == nil {
		return errors.New("node: config: Transport or ListenAddress is required")
	}
	if c.TickInterval < time.Millisecond {
		return fmt.Errorf("node: config: TickInterval %v is below 1ms", c.TickInterval)
	}
	if _, self := c.Peers[c.ID]; len(c.Peers) > 0 && !self && !c.Join {
		return fmt.Errorf("node: config: Peers does not include this node (%v)", c.ID)
	}
	return nil
}
