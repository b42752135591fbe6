// Package transport carries raft messages between the nodes of a cluster
// over gRPC: one stream per ordered pair of nodes carrying batches of
// messages in a compact binary encoding, and a separate stream per snapshot
// transfer, chunked and checksummed, so a large snapshot never holds up
// heartbeats and appends. It reconnects with exponential backoff, bounds
// every queue (dropping when full: the raft core retransmits), refuses
// streams from other clusters, supports TLS and mutual TLS, and takes a
// FaultHook for tests. docs/transport.md describes the wire format.
package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/lockstepdb/lockstep/internal/retry"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
)

// DefaultSendQueueLength is the per-peer queue length used when
// Config.SendQueueLength is zero.
const DefaultSendQueueLength = 1024

// Config configures a Transport. It is read by New and not retained, except
// for the TLS configuration (cloned), the Logger and the FaultHook.
type Config struct {
	// ID is this node's ID; it must not be raft.None.
	ID raft.NodeID
	// ClusterID names the cluster. Streams from a node configured with
	// another cluster ID are refused, so two clusters sharing hosts never
	// exchange messages.
	ClusterID uint64
	// ClusterHint, if set, tells an operator what to check when a peer
	// turns out to belong to another cluster (which flags, with this
	// node's values): it ends the refusal sent to such a peer and this
	// node's log line when a peer refuses it.
	ClusterHint string
	// ListenAddress is the TCP address Start listens on, such as
	// "10.0.0.1:2380" or "127.0.0.1:0" (any free port; see Addr).
	ListenAddress string
	// MaxMessageBytes limits the encoded size of one message, snapshot data
	// excluded (DefaultMaxMessageBytes if zero). Larger messages are
	// dropped by Send and by receivers.
	MaxMessageBytes int
	// SendQueueLength is the number of messages queued per peer
	// (DefaultSendQueueLength if zero). Send drops messages to a peer whose
	// queue is full.
	SendQueueLength int
	// TLS, if set, secures every connection: its Certificates are presented
	// as server and as client certificate, RootCAs verify servers, and
	// ClientCAs, if set, turn on mutual TLS (a client without a certificate
	// signed by them is refused). Nil means plaintext.
	TLS *tls.Config
	// Logger receives the transport's logs; nil discards them.
	Logger *slog.Logger
	// Faults, if set, injects faults (tests only).
	Faults *FaultHook
	// Info, if set, is called (from gRPC's goroutines, concurrently) to
	// answer FetchInfo with a description of the cluster the application
	// publishes, such as its member list. Nil answers ErrNoInfo.
	Info func() []byte
	// Queries answers the named queries peers ask with Transport.Query
	// (see query.go); a name not in it is answered ErrUnknownQuery.
	Queries map[string]QueryHandler
}

// Transport sends and receives raft messages for one node. All methods are
// safe for concurrent use. Create it with New, call Start to listen, SetPeer
// to name peers, Send to send, and Stop once at the end.
type Transport struct {
	config          Config
	logger          *slog.Logger
	maxMessageBytes int
	queueLength     int
	serverTLS       *tls.Config
	clientTLS       *tls.Config
	counters        counters
	limiter         logLimiter

	mu       sync.RWMutex
	peers    map[raft.NodeID]*peer
	handler  func(raft.Message)
	listener net.Listener
	server   *grpc.Server
	// peerListener routes accepted connections to gRPC or to serveDirect.
	peerListener *peerListener
	started      bool
	stopped      bool
	// snapshots, if set, is where snapshots are streamed from and to
	// (see UseSnapshotStore).
	snapshots *snap.Store
	// wasRemoved and noteRemoved are set by UseRemovals before Start
	// (read without the lock afterwards).
	wasRemoved  func(raft.NodeID) bool
	noteRemoved func()
	// sourceFailures paces the reads of a snapshot file that failed.
	sourceFailures retry.Backoff[snapshotKey]
	// unreachable, if set, is told of every peer whose message stream
	// broke (see OnUnreachable); guarded by mu.
	unreachable func(raft.NodeID)

	// group tracks every goroutine the transport starts; Stop waits for it.
	group sync.WaitGroup
}

// New validates config and returns a Transport that neither listens nor
// sends until Start and SetPeer.
func New(config Config) (*Transport, error) {
	if config.ID == raft.None {
		return nil, errors.New("transport: node ID must not be zero")
	}
	if config.MaxMessageBytes < 0 || config.SendQueueLength < 0 {
		return nil, errors.New("transport: negative MaxMessageBytes or SendQueueLength")
	}
	t := &Transport{
		config:          config,
		logger:          config.Logger,
		maxMessageBytes: config.MaxMessageBytes,
		queueLength:     config.SendQueueLength,
		peers:           make(map[raft.NodeID]*peer),
	}
	if t.logger == nil {
		t.logger = slog.New(slog.DiscardHandler)
	}
	t.logger = t.logger.With("component", "transport", "node", config.ID.String())
	if t.maxMessageBytes == 0 {
		t.maxMessageBytes = DefaultMaxMessageBytes
	}
	if t.queueLength == 0 {
		t.queueLength = DefaultSendQueueLength
	}
	if config.TLS != nil {
		t.serverTLS = config.TLS.Clone()
		if t.serverTLS.ClientCAs != nil && t.serverTLS.ClientAuth == tls.NoClientCert {
			t.serverTLS.ClientAuth = tls.RequireAndVerifyClientCert
		}
		t.clientTLS = config.TLS.Clone()
		t.config.TLS = nil
	}
	return t, nil
}

// Start listens on Config.ListenAddress and serves incoming streams,
// calling handler for each message received, in order per sending peer.
// The handler is called from the transport's goroutines, concurrently for
// different peers; it must be cheap (hand the message to another goroutine)
// and must not call Stop. Messages it receives are its own: their byte
// slices are not reused. Start may be called once.
func (t *Transport) Start(handler func(raft.Message)) error {
	if handler == nil {
		return errors.New("transport: nil handler")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return errors.New("transport: start after stop")
	}
	if t.started {
		return errors.New("transport: already started")
	}
	listener, err := net.Listen("tcp", t.config.ListenAddress)
	if err != nil {
		return fmt.Errorf("transport: listen on %s: %w", t.config.ListenAddress, err)
	}
	options := []grpc.ServerOption{
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.MaxRecvMsgSize(max(t.maxMessageBytes, snapshotChunkBytes) + frameSlack),
		grpc.MaxSendMsgSize(frameSlack),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveTime / 2, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.WaitForHandlers(true),
		grpc.InitialWindowSize(streamWindowBytes),
		grpc.InitialConnWindowSize(connectionWindowBytes),
	}
	// No gRPC credentials: the peer listener does the TLS handshake,
	// before it can tell which protocol a connection speaks.
	t.server = grpc.NewServer(options...)
	t.server.RegisterService(serviceDescription(), t)
	t.handler = handler
	t.listener = listener
	t.started = true
	server := t.server
	peers := newPeerListener(listener, t.serverTLS, t.serveDirect, &t.group, t.logger)
	t.peerListener = peers
	t.group.Go(peers.router.Run)
	t.group.Go(func() {
		// ErrServerStopped: Stop came first (a start that failed
		// elsewhere); not a failure of its own to report.
		if err := server.Serve(peers.grpc); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.logger.Error("serving peers failed", "error", err)
		}
	})
	t.logger.Info("listening for peers", "address", listener.Addr().String(), "tls", t.serverTLS != nil)
	return nil
}

// Keepalive pings detect a dead peer whose TCP connection stays open.
const (
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 5 * time.Second
)

// Flow-control windows, fixed on both ends of a peer connection. A fixed
// window turns off gRPC's bandwidth-delay estimator, which otherwise sends
// a PING (and draws a PING ack) for nearly every message when traffic comes
// in request-response bursts, as Raft's does: two extra writes per append
// on a quiet cluster, measured with strace. The stream window holds a whole
// snapshot chunk and a full append batch; the connection window is shared
// by the streams of one peer pair.
const (
	streamWindowBytes     = 4 << 20
	connectionWindowBytes = 16 << 20
)

// Addr returns the address the transport listens on (with the actual port
// when ListenAddress asked for port 0), or nil before Start.
func (t *Transport) Addr() net.Addr {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.listener == nil {
		return nil
	}
	return t.listener.Addr()
}

// SetPeer adds peer id at address, or moves it there: messages to id are
// then sent to address. Moving a peer drops the messages queued for it.
// It does not block on the network. Calls after Stop are ignored.
func (t *Transport) SetPeer(id raft.NodeID, address string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	if old := t.peers[id]; old != nil {
		if old.address == address {
			return
		}
		old.stop()
	}
	p, err := t.newPeer(id, address)
	if err != nil {
		t.logger.Error("cannot add peer", "peer", id.String(), "address", address, "error", err)
		delete(t.peers, id)
		return
	}
	t.peers[id] = p
	p.start()
	t.logger.Info("peer set", "peer", id.String(), "address", address)
}

// RemovePeer forgets peer id: its streams are closed, its queued messages
// dropped, and later messages to it counted as DroppedUnknownPeer. It does
// not wait for the peer's goroutines (Stop does).
func (t *Transport) RemovePeer(id raft.NodeID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.peers[id]; p != nil {
		p.stop()
		delete(t.peers, id)
		t.logger.Info("peer removed", "peer", id.String())
	}
}

// Send queues messages for their recipients (Message.To) and returns at
// once: it never blocks on the network. A message to an unknown peer, one
// larger than MaxMessageBytes (snapshot data excluded), one refused by the
// FaultHook, or one whose peer queue is full is dropped and counted in
// Stats; raft retransmits. A message carrying a Snapshot goes to the peer's
// snapshot stream, which holds one pending transfer besides the current one.
// Send keeps references to the messages' byte slices until they are
// written: the caller must not modify them afterwards.
func (t *Transport) Send(messages []raft.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := range messages {
		t.sendOne(messages[i])
	}
}

func (t *Transport) sendOne(m raft.Message) {
	drop, delay := t.config.Faults.shouldDrop(m)
	if drop {
		t.counters.droppedByFault.Add(1)
		return
	}
	p := t.peers[m.To]
	if p == nil {
		t.counters.droppedUnknownPeer.Add(1)
		t.limiter.log(t.logger, "unknown peer", slog.LevelWarn, "dropping message to unknown peer", "to", m.To.String(), "type", m.Type.String())
		return
	}
	if m.Snapshot != nil {
		metadataOnly := m
		snapshot := *m.Snapshot
		snapshot.Data = nil
		metadataOnly.Snapshot = &snapshot
		if EncodedSize(metadataOnly) > t.maxMessageBytes {
			t.dropOversized(m, EncodedSize(metadataOnly))
			return
		}
		p.queueSnapshot(m)
		return
	}
	if size := EncodedSize(m); size > t.maxMessageBytes {
		t.dropOversized(m, size)
		return
	}
	p.queueMessage(m, delay)
}

func (t *Transport) dropOversized(m raft.Message, size int) {
	t.counters.droppedOversized.Add(1)
	t.limiter.log(t.logger, "oversized", slog.LevelWarn, "dropping oversized message",
		"to", m.To.String(), "type", m.Type.String(), "bytes", size, "limit", t.maxMessageBytes)
}

// Stats returns the transport's counters and each peer's figures. Safe to
// call at any time, including after Stop.
func (t *Transport) Stats() Stats {
	stats := t.counters.snapshot()
	t.mu.RLock()
	defer t.mu.RUnlock()
	stats.Peers = make(map[raft.NodeID]PeerStats, len(t.peers))
	for id, p := range t.peers {
		stats.Peers[id] = p.stats()
	}
	return stats
}

// Stop closes every stream and connection, stops listening and returns
// once every goroutine of the transport has finished, including running
// handler calls. Messages still queued are dropped. Stop is idempotent.
func (t *Transport) Stop() error {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return nil
	}
	t.stopped = true
	for id, p := range t.peers {
		p.stop()
		delete(t.peers, id)
	}
	server, peers := t.server, t.peerListener
	t.mu.Unlock()
	// gRPC first: once its server has stopped, the listener's closing is
	// no failure for Serve to report.
	if server != nil {
		server.Stop()
	}
	if peers != nil {
		peers.router.Close()
	}
	t.group.Wait()
	t.logger.Info("stopped")
	return nil
}
