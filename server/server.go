// Package server is lockstep's etcd-compatible key-value server: a kv.Store
// replicated by a node.Node, served over etcd's v3 gRPC API (KV, Watch,
// Lease, Cluster, Maintenance and gRPC health) so unmodified etcd clients
// and etcdctl work against it, plus an HTTP admin listener for metrics and
// health checks.
//
// Writes are proposed through Raft on the leader; a follower forwards them
// to the leader's client URL. Linearizable reads pass the runtime's read
// barrier (node.Read, usable on followers) and then read the local store;
// serializable reads read it at once.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/transport"
)

// Server is one running member. Create it with Start; its methods are safe
// for concurrent use.
type Server struct {
	config    Config
	log       *slog.Logger
	id        raft.NodeID
	clusterID uint64
	// initialPeers maps the members known when the data directory was
	// created to their peer URLs (comma-separated): the node's Peers.
	initialPeers map[raft.NodeID]string

	store     *kv.Store
	node      *node.Node
	peers     *transport.Transport
	forwarder *forwarder
	lessor    *lessor
	reads     *readBatcher
	metrics   *metrics

	grpcServer    *grpc.Server
	health        *health.Server
	clientAddress []net.Addr
	// clientListeners split each client port between grpcServer and
	// clientHTTP (client_listener.go); gateway is the JSON gateway they
	// serve under /v3/.
	clientListeners []*clientListener
	clientHTTP      []*http.Server
	// clientHTTPAddress are the --listen-client-http-urls ports bound.
	clientHTTPAddress []net.Addr
	gateway           *gateway
	// adminMux is what every admin listener serves (AdminHandler).
	adminMux     *http.ServeMux
	admin        []*http.Server
	adminAddress []net.Addr

	// nodeStarted is set once node holds the started node: the transport
	// answers peers' queries from within node.Start, before it returns.
	nodeStarted atomic.Bool
	// leader and term follow the node's events, so request headers and
	// health checks need no round trip to the loop.
	leader atomic.Uint64
	term   atomic.Uint64
	// sizeBytes caches the store's size for the quota check, measured at
	// sizeMeasured (Unix nanoseconds).
	sizeBytes    atomic.Int64
	sizeMeasured atomic.Int64

	// removed is closed, and isRemoved set, once the member learns it was
	// removed from the cluster (see Removed).
	removed chan struct{}
	// clusterHint says what to check when a peer of another cluster
	// calls (identity.clusterHint).
	clusterHint string
	// lock holds the data directory while the member runs.
	lock      *directoryLock
	isRemoved atomic.Bool

	stopping chan struct{}
	stopOnce sync.Once
	group    sync.WaitGroup
}

// Start opens (or creates) the member's data in config.DataDirectory, joins
// or bootstraps its cluster, and starts serving. It returns once every
// listener is bound; the cluster may still be electing a leader.
func Start(config Config) (*Server, error) {
	config = config.withDefaults()
	if err := config.Validate(); err != nil {
		return nil, err
	}
	// Nothing is created until the ports are known to be free and the
	// data directory to be ours; a first start that fails later removes
	// what it created (see creation).
	created := noteCreation(config.DataDirectory)
	if err := os.MkdirAll(config.DataDirectory, 0o700); err != nil {
		return nil, fmt.Errorf("server: create data directory: %w", err)
	}
	lock, err := lockDataDirectory(config.DataDirectory)
	if err != nil {
		if !created.existedBefore {
			os.Remove(config.DataDirectory)
		}
		return nil, err
	}
	s := &Server{config: config, stopping: make(chan struct{}), removed: make(chan struct{}), lock: lock}
	_, identityErr := os.Stat(filepath.Join(config.DataDirectory, identityFile))
	firstStart := errors.Is(identityErr, os.ErrNotExist)
	fail := func(err error) (*Server, error) {
		closeErr := s.closeAll()
		if firstStart {
			if undoErr := created.undo(); undoErr != nil {
				return nil, errors.Join(err, closeErr, fmt.Errorf("server: removing what this failed start created in %s: %w", config.DataDirectory, undoErr))
			}
		}
		return nil, err
	}
	if err := checkListenAddresses(config); err != nil {
		return fail(err)
	}
	if err := refuseInterruptedRestore(config.DataDirectory); err != nil {
		firstStart = false // the restore's files are not this start's to remove
		return fail(err)
	}
	who, fresh, err := s.resolveIdentity()
	if err != nil {
		return fail(err)
	}
	s.id, s.clusterID, s.initialPeers, s.clusterHint = who.MemberID, who.ClusterID, who.Peers, who.clusterHint()
	s.log = slog.New(termHandler{inner: config.Logger.Handler(), term: &s.term}).With("member", config.Name, "id", fmt.Sprintf("%x", uint64(s.id)))
	if err := s.open(!firstStart); err != nil {
		return fail(err)
	}
	if fresh {
		if err := saveIdentity(config.DataDirectory, who); err != nil {
			return fail(err)
		}
	}
	s.group.Go(s.followEvents)
	s.group.Go(s.watchRemoval)
	s.group.Go(s.publishAttributes)
	s.group.Go(s.lessor.run)
	s.group.Go(s.reads.run)
	s.group.Go(s.driveCompaction)
	if config.AutoCompaction.Enabled() {
		s.group.Go(s.autoCompactor().run)
	}
	if config.CorruptCheckInterval > 0 {
		s.group.Go(s.runCorruptionChecks)
	}
	s.group.Go(s.handOverWhileDiskFull)
	s.log.Info("serving", "client", s.ClientAddresses(), "peer", s.peers.Addr().String(), "cluster", fmt.Sprintf("%x", s.clusterID))
	return s, nil
}

// open starts the store, the node and the listeners, in that order; with
// existingData and InitialCorruptCheck, it compares the store with the
// peers' before it serves any client (as etcd checks before it serves).
func (s *Server) open(existingData bool) error {
	config := s.config
	tokens, err := config.authTokens()
	if err != nil {
		return err
	}
	if tokens != nil {
		s.log.Info("auth tokens", "kind", tokens)
	}
	// The metrics come first: the store and the node report their writes
	// to them (their gauges read the store, transport and node only when
	// scraped, once the listeners serve).
	s.metrics = newMetrics(s)
	store, err := kv.Open(filepath.Join(config.DataDirectory, "kv"), kv.Options{Logger: s.log, MaxTxnOps: config.MaxTxnOps, CacheSize: config.BackendCacheBytes, FileSystem: config.StoreFileSystem,
		CurrentIndexKeys: config.CurrentIndexKeys,
		AuthTokenTTL:     config.AuthTokenTTL, AuthTokens: tokens,
		ObserveCommit: func(elapsed time.Duration) { s.metrics.etcd.backendCommitSeconds.Observe(elapsed.Seconds()) }})
	if err != nil {
		return fmt.Errorf("server: open key-value store: %w", err)
	}
	s.store = store
	peerListen, _ := hostPort(config.ListenPeerURLs[0])
	s.peers, err = transport.New(transport.Config{
		ID: s.id, ClusterID: s.clusterID, ListenAddress: peerListen, TLS: s.peerTLS(),
		MaxMessageBytes: config.MaxRequestBytes + 1<<20, Logger: s.log, Info: s.publishedInfo,
		Faults: config.PeerFaults, ClusterHint: s.clusterHint,
		Queries: map[string]transport.QueryHandler{hashQuery: s.answerHash, publishQuery: s.answerPublish},
	})
	if err != nil {
		return fmt.Errorf("server: peer transport: %w", err)
	}
	ticks := int(config.ElectionTimeout / config.HeartbeatInterval)
	s.node, err = node.Start(node.Config{
		ID: s.id, Directory: filepath.Join(config.DataDirectory, "raft"), FileSystem: config.LogFileSystem, Peers: s.initialPeers,
		Join: config.InitialClusterState == "existing", Transport: urlTransport{s.peers},
		TickInterval: config.HeartbeatInterval, ElectionTicks: ticks, HeartbeatTicks: 1,
		// No MaxProposalBytes (-1): propose bounds every command by
		// MaxRequestBytes (kv.NewCommand), the write path's one size check.
		SnapshotEntries: config.SnapshotCount, KeepSnapshotImages: config.KeepSnapshotImages,
		SegmentBytes: config.WALSegmentBytes, MaxProposalBytes: -1, Logger: s.log,
		ObservePersist:       s.metrics.observePersist,
		ObserveProposal:      s.metrics.observeProposal,
		ObservePeerRoundTrip: s.metrics.etcd.observePeerRoundTrip,
		// The loop steps acknowledgements and proposals while a writer
		// goroutine fsyncs (see docs/runtime.md); the core still counts
		// this member only once its write is durable.
		AsyncPersistence: true,
	}, store)
	if err != nil {
		s.peers = nil // node.Start stopped it... or never started it
		return fmt.Errorf("server: start node: %w", err)
	}
	s.nodeStarted.Store(true)
	if config.InitialCorruptCheck && existingData {
		if err := s.initialCorruptionCheck(); err != nil {
			return err
		}
	}
	s.forwarder = newForwarder(s)
	s.lessor = newLessor(s)
	s.reads = newReadBatcher(s)
	if err := s.serveClients(); err != nil {
		return err
	}
	return s.serveAdmin()
}

// serveClients binds every client URL and serves the etcd API on it.
func (s *Server) serveClients() error {
	options := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.config.MaxRequestBytes + grpcOverheadBytes),
		grpc.MaxSendMsgSize(maxSendBytes),
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.ChainUnaryInterceptor(s.metrics.grpc.unaryInterceptor, s.metrics.unaryInterceptor, s.refuseWhenRemoved, s.authUnaryInterceptor),
		grpc.ChainStreamInterceptor(s.metrics.grpc.streamInterceptor, s.refuseStreamWhenRemoved, s.authStreamInterceptor),
		grpc.InitialWindowSize(streamWindowBytes),
		grpc.InitialConnWindowSize(connectionWindowBytes),
		// As etcd's: clients may ping every GRPCKeepAliveMinTime while
		// they have calls open (gRPC's own default, 5 minutes, cut off
		// clients that ping every 30 s), and an idle connection is
		// pinged every GRPCKeepAliveInterval.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: s.config.GRPCKeepAliveMinTime}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: s.config.GRPCKeepAliveInterval, Timeout: s.config.GRPCKeepAliveTimeout}),
	}
	if s.config.ClientTLS != nil {
		// The client listener makes the TLS handshake (it tells gRPC and
		// HTTP apart by ALPN); gRPC takes the connection as it is.
		options = append(options, grpc.Creds(handshakenCredentials{}))
	}
	s.grpcServer = grpc.NewServer(options...)
	pb.RegisterKVServer(s.grpcServer, &kvService{server: s})
	pb.RegisterWatchServer(s.grpcServer, &watchService{server: s})
	pb.RegisterLeaseServer(s.grpcServer, &leaseService{server: s})
	pb.RegisterClusterServer(s.grpcServer, &clusterService{server: s})
	pb.RegisterMaintenanceServer(s.grpcServer, &maintenanceService{server: s})
	pb.RegisterAuthServer(s.grpcServer, &authService{server: s})
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpcServer, s.health)
	s.metrics.grpc.prepare(s.grpcServer)
	gateway, err := newGateway(s.grpcServer, &s.group)
	if err != nil {
		return fmt.Errorf("server: the JSON gateway: %w", err)
	}
	s.gateway = gateway
	clientMux := s.newClientMux(gateway.handler)
	for _, raw := range s.config.ListenClientURLs {
		address, _ := hostPort(raw)
		bound, err := net.Listen("tcp", address)
		if err != nil {
			return fmt.Errorf("server: listen for clients on %s: %w", raw, err)
		}
		s.clientAddress = append(s.clientAddress, bound.Addr())
		s.config.AdvertiseClientURLs = resolvePort(s.config.AdvertiseClientURLs, raw, bound.Addr())
		listener := newClientListener(bound, s.config.ClientTLS, len(s.config.ListenClientHTTPURLs) > 0, clientClassifyTimeout, &s.group, s.log)
		s.clientListeners = append(s.clientListeners, listener)
		s.group.Go(listener.router.Run)
		s.group.Go(func() {
			// The port closes before gRPC stops (shutdown): its Accept
			// then fails with net.ErrClosed, which is no failure.
			if err := s.grpcServer.Serve(listener.grpc); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, net.ErrClosed) {
				s.log.Error("serving clients failed", "address", raw, "error", err)
			}
		})
		s.serveClientHTTPOn(listener.http, clientMux, raw)
	}
	return s.serveClientHTTP(clientMux)
}

// serveClientHTTP binds every --listen-client-http-urls URL and serves the
// client port's HTTP routes on it (the client ports then serve gRPC alone).
func (s *Server) serveClientHTTP(clientMux http.Handler) error {
	for _, raw := range s.config.ListenClientHTTPURLs {
		address, _ := hostPort(raw)
		bound, err := net.Listen("tcp", address)
		if err != nil {
			return fmt.Errorf("server: listen for HTTP clients on %s: %w", raw, err)
		}
		s.clientHTTPAddress = append(s.clientHTTPAddress, bound.Addr())
		if strings.HasPrefix(raw, "https://") {
			config := s.config.ClientTLS.Clone()
			config.NextProtos = []string{"http/1.1"}
			bound = tls.NewListener(bound, config)
		}
		s.serveClientHTTPOn(bound, clientMux, raw)
	}
	return nil
}

// serveClientHTTPOn serves the client port's HTTP routes (handler) on
// listener, with one of the s.clientHTTP servers, which shutdown closes.
func (s *Server) serveClientHTTPOn(listener net.Listener, handler http.Handler, address string) {
	httpServer := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: clientHTTPIdleTimeout}
	s.clientHTTP = append(s.clientHTTP, httpServer)
	s.group.Go(func() {
		if err := httpServer.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("serving clients over HTTP failed", "address", address, "error", err)
		}
	})
}

// resolvePort replaces, in advertised, the URL listened on with port 0 by
// the URL of the port the listener got, so a member started on a free
// port publishes where it really is.
func resolvePort(advertised []string, listened string, bound net.Addr) []string {
	if !strings.HasSuffix(listened, ":0") {
		return advertised
	}
	resolved := slices.Clone(advertised)
	for i, url := range resolved {
		if url == listened {
			scheme, _, _ := strings.Cut(url, "://")
			resolved[i] = scheme + "://" + bound.String()
		}
	}
	return resolved
}

const (
	// grpcOverheadBytes is what gRPC framing may add to a request of
	// MaxRequestBytes (etcd allows the same).
	grpcOverheadBytes = 512 * 1024
	// maxSendBytes bounds a response (a large Range).
	maxSendBytes = 1<<31 - 1
	maxStreams   = 1<<32 - 1
	// The flow-control windows are fixed: that turns off gRPC's
	// bandwidth-delay estimator, whose PING per request (and the client's
	// PING ack) costs two system calls per call on a quiet connection. A
	// stream window larger than the largest request lets one arrive whole.
	streamWindowBytes     = 4 << 20
	connectionWindowBytes = 32 << 20
)

// ClientHTTPAddresses returns the host:port of each HTTP-only client
// listener (Config.ListenClientHTTPURLs), as bound.
func (s *Server) ClientHTTPAddresses() []string {
	addresses := make([]string, len(s.clientHTTPAddress))
	for i, address := range s.clientHTTPAddress {
		addresses[i] = address.String()
	}
	return addresses
}

// ClientAddresses returns the addresses the client listeners are bound to
// (useful with port 0).
func (s *Server) ClientAddresses() []string {
	addresses := make([]string, len(s.clientAddress))
	for i, address := range s.clientAddress {
		addresses[i] = address.String()
	}
	return addresses
}

// Name returns this member's name (Config.Name), unique in its cluster.
func (s *Server) Name() string { return s.config.Name }

// ID returns this member's ID, fixed when its data directory was created
// (the MemberId of every response header).
func (s *Server) ID() uint64 { return uint64(s.id) }

// ClusterID returns the ID of the cluster this member belongs to: derived
// from the initial members and InitialClusterToken when the cluster was
// bootstrapped (a restore from a snapshot derives a new one), and stored
// in the data directory. It is the ClusterId of every response header, and
// the peer transport refuses streams from members of another cluster.
func (s *Server) ClusterID() uint64 { return s.clusterID }

// Node returns the member's Raft runtime (for status pages and tests).
func (s *Server) Node() *node.Node { return s.node }

// followEvents keeps the leader and term current from the node's events.
func (s *Server) followEvents() {
	events, cancel := s.node.Subscribe(1024)
	defer cancel()
	refresh := time.NewTicker(s.config.ElectionTimeout)
	defer refresh.Stop()
	s.refreshLeader()
	for {
		select {
		case <-s.stopping:
			return
		case event := <-events:
			if event.Kind == node.LeaderChanged {
				s.noteLeader(event.Leader, event.Term)
			}
		case <-refresh.C:
			// Events are dropped for a full buffer; this catches up.
			s.refreshLeader()
		}
	}
}

func (s *Server) refreshLeader() {
	ctx, cancel := context.WithTimeout(context.Background(), s.config.ElectionTimeout)
	defer cancel()
	if status, err := s.node.Status(ctx); err == nil {
		s.noteLeader(status.Leader, status.Term)
	}
}

func (s *Server) noteLeader(leader raft.NodeID, term uint64) {
	previous := raft.NodeID(s.leader.Swap(uint64(leader)))
	s.term.Store(term)
	if previous != leader {
		s.metrics.leaderChanges.Inc()
		s.lessor.leaderChanged(leader == s.id)
		if leader == raft.None {
			s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		} else {
			s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		}
	}
}

// Leader returns the current leader's ID as this member knows it, or 0.
func (s *Server) Leader() uint64 { return s.leader.Load() }

// header is the ResponseHeader of a response reflecting revision.
func (s *Server) header(revision int64) *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: s.clusterID, MemberId: uint64(s.id), Revision: revision, RaftTerm: s.term.Load()}
}

// Stop shuts the member down: a leader first hands leadership to another
// voter (bounded by ctx), then listeners close, in-flight requests end
// (or are cut when ctx ends), and the node stops with everything it
// acknowledged durable. Safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.handOver(ctx, "before stopping")
	return s.shutdown(ctx)
}

// StopWithoutHandover shuts the member down as Stop does, but a leader does
// not hand leadership over first: for stopping a whole cluster, where the
// other members are stopping too and a handover could only fail (lockstep
// dev stops its members this way).
func (s *Server) StopWithoutHandover(ctx context.Context) error {
	return s.shutdown(ctx)
}

// kill stops the member without handing leadership over or waiting for
// requests, as a crash would look to its peers (tests only; what was
// acknowledged is on disk all the same).
func (s *Server) kill() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.shutdown(ctx)
}

func (s *Server) shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		close(s.stopping)
		for _, admin := range s.admin {
			admin.Close()
		}
		// The client ports stop accepting first, then their HTTP
		// connections close, then gRPC lets its calls finish.
		for _, listener := range s.clientListeners {
			listener.router.Close()
		}
		for _, clientHTTP := range s.clientHTTP {
			clientHTTP.Close()
		}
		if s.gateway != nil {
			s.gateway.close()
		}
		if s.grpcServer != nil {
			stopped := make(chan struct{})
			go func() { s.grpcServer.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-ctx.Done():
				s.grpcServer.Stop()
				<-stopped
			}
		}
		s.forwarder.close()
		err = s.closeAll()
		s.group.Wait()
	})
	return err
}

// closeAll stops the node (and with it the transport) and closes the store.
func (s *Server) closeAll() error {
	var errs []error
	if s.node != nil {
		errs = append(errs, s.node.Stop())
	} else if s.peers != nil {
		errs = append(errs, s.peers.Stop())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	s.lock.release()
	return errors.Join(errs...)
}

// handOver transfers leadership, if this member leads, to the voter whose
// log is most up to date, so the cluster does not wait out an election
// timeout when a leader is stopped on purpose (or cannot write: reason
// says why, in the log).
func (s *Server) handOver(ctx context.Context, reason string) {
	if s.node == nil || raft.NodeID(s.leader.Load()) != s.id {
		return
	}
	status, err := s.node.Status(ctx)
	if err != nil || status.Role != raft.RoleLeader {
		return
	}
	var target raft.NodeID
	var best uint64
	for _, voter := range status.Membership.Voters {
		if follower, ok := status.Followers[voter]; ok && voter != s.id && follower.Match >= best {
			target, best = voter, follower.Match
		}
	}
	if target == raft.None {
		return
	}
	transferCtx, cancel := context.WithTimeout(ctx, s.config.ElectionTimeout)
	defer cancel()
	if err := s.node.TransferLeadership(transferCtx, target); err != nil {
		s.log.Warn("could not hand leadership over "+reason, "target", fmt.Sprintf("%x", uint64(target)), "error", err)
		return
	}
	s.log.Info("handed leadership over "+reason, "target", fmt.Sprintf("%x", uint64(target)))
}
