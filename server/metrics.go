package server

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/transport"
)

// metrics are the member's Prometheus metrics, in a registry of its own
// (several members may share a process in tests): lockstep's, named
// lockstep_*, and those of etcd's names that its dashboards and alerts
// read (etcd and grpc; metrics_etcd.go, metrics_grpc.go).
type metrics struct {
	registry        *prometheus.Registry
	proposals       prometheus.Counter
	proposalsFailed prometheus.Counter
	leaderChanges   prometheus.Counter
	requests        *prometheus.CounterVec
	requestSeconds  *prometheus.HistogramVec
	persistSeconds  prometheus.Histogram
	// writeStages is the leader's latency budget of a write (see
	// observeProposal); stage holds its observers, looked up once.
	writeStages *prometheus.HistogramVec
	stage       writeStageObservers
	// pendingProposals counts the proposals handed to the node and not
	// answered yet (etcd_server_proposals_pending).
	pendingProposals atomic.Int64
	etcd             etcdMetrics
	grpc             *grpcMetrics
}

// writeStageObservers are lockstep_write_stage_seconds by stage: checked and
// answered are timed from the moment the leader's propose path took the
// request; appended, persisted, committed and applied from the moment it
// handed the command to the runtime (node.ProposalTimes.Submitted).
type writeStageObservers struct {
	checked, appended, persisted, committed, applied, answered prometheus.Observer
}

// observeProposal records one proposal's stages (node.Config.ObserveProposal,
// called from the node's applier goroutine).
func (m *metrics) observeProposal(times node.ProposalTimes) {
	m.stage.appended.Observe(times.Appended.Sub(times.Submitted).Seconds())
	if !times.Persisted.IsZero() { // zero: a quorum of followers was faster
		m.stage.persisted.Observe(times.Persisted.Sub(times.Submitted).Seconds())
	}
	m.stage.committed.Observe(times.Committed.Sub(times.Submitted).Seconds())
	m.stage.applied.Observe(times.Applied.Sub(times.Submitted).Seconds())
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry:        prometheus.NewRegistry(),
		proposals:       prometheus.NewCounter(prometheus.CounterOpts{Name: "lockstep_proposals_total", Help: "Commands proposed through Raft by this member."}),
		proposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "lockstep_proposals_failed_total", Help: "Proposals that failed (timed out, dropped, no leader, stopped)."}),
		leaderChanges:   prometheus.NewCounter(prometheus.CounterOpts{Name: "lockstep_leader_changes_total", Help: "Times this member saw the leader change."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lockstep_grpc_requests_total", Help: "Client gRPC requests by method and status code."},
			[]string{"method", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lockstep_grpc_request_seconds", Help: "Client gRPC request latency.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"method"}),
		persistSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lockstep_wal_fsync_seconds",
			Help: "Latency of each write of the Raft log that reaches the disk: a batch of records written and fsynced (a save of only a new commit index writes nothing at once and is not counted).", Buckets: prometheus.ExponentialBuckets(0.00005, 2, 18)}),
		writeStages: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lockstep_write_stage_seconds",
			Help: "The leader's latency budget of a write: checked and answered from the moment its propose path took the request; " +
				"appended, persisted (the leader's own fsync), committed and applied from the moment it handed the command to the runtime.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 18)}, []string{"stage"}),
	}
	m.etcd, m.grpc = newEtcdMetrics(), newGRPCMetrics()
	m.registry.MustRegister(m.etcdCollectors(s)...)
	m.registry.MustRegister(m.grpc.collectors()...)
	m.stage = writeStageObservers{
		checked: m.writeStages.WithLabelValues("checked"), appended: m.writeStages.WithLabelValues("appended"),
		persisted: m.writeStages.WithLabelValues("persisted"), committed: m.writeStages.WithLabelValues("committed"),
		applied: m.writeStages.WithLabelValues("applied"), answered: m.writeStages.WithLabelValues("answered"),
	}
	statusGauge := func(name, help string, value func(node.Status) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fromStatus(s, value))
	}
	m.registry.MustRegister(
		m.proposals, m.proposalsFailed, m.leaderChanges, m.requests, m.requestSeconds, m.persistSeconds, m.writeStages,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		statusGauge("lockstep_term", "Current Raft term.", func(st node.Status) float64 { return float64(st.Term) }),
		statusGauge("lockstep_commit_index", "Highest log index known committed.", func(st node.Status) float64 { return float64(st.Commit) }),
		statusGauge("lockstep_applied_index", "Highest log index applied to the store.", func(st node.Status) float64 { return float64(st.Applied) }),
		statusGauge("lockstep_last_index", "Last index in this member's log.", func(st node.Status) float64 { return float64(st.LastIndex) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lockstep_is_leader", Help: "1 if this member leads."}, func() float64 {
			if s.leader.Load() == uint64(s.id) {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lockstep_has_leader", Help: "1 if this member knows a leader."}, func() float64 {
			if s.leader.Load() != 0 {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lockstep_peer_sent_messages_total", Help: "Raft messages sent to peers."},
			func() float64 { return float64(s.peers.Stats().Sent) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lockstep_peer_received_messages_total", Help: "Raft messages received from peers."},
			func() float64 { return float64(s.peers.Stats().Received) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "lockstep_peer_dropped_messages_total", Help: "Raft messages dropped on the way to peers (full queues, unknown peers, oversized)."},
			func() float64 {
				stats := s.peers.Stats()
				return float64(stats.DroppedQueueFull + stats.DroppedUnknownPeer + stats.DroppedOversized)
			}),
		peerConnections("direct", true, func() transport.Stats { return s.peers.Stats() }),
		peerConnections("grpc", false, func() transport.Stats { return s.peers.Stats() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lockstep_store_size_bytes", Help: "Size of the key-value store on disk."},
			func() float64 { total, _ := s.store.Size(); return float64(total) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lockstep_store_size_in_use_bytes", Help: "Bytes of the key-value store holding live data (the quota counts these); the rest is given back by compaction and defragmentation."},
			func() float64 { _, inUse := s.store.Size(); return float64(inUse) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lockstep_store_disk_full", Help: "1 while the key-value store's disk has no space for its writes (ENOSPC)."},
			func() float64 {
				if s.store.DiskFull() != nil {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lockstep_store_failing", Help: "1 while the key-value store's flushes fail for another reason than a full disk (EIO, a directory removed underneath it); 0 once one succeeds."},
			func() float64 {
				if s.store.Failing() != nil {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lockstep_wal_disk_full", Help: "1 while the Raft log's writes are paused because its disk has no space for the next segment (ENOSPC); they resume by themselves when space returns."},
			func() float64 {
				if s.node.LogDiskFull() != nil {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lockstep_store_revision", Help: "Current revision of the key-value store."},
			func() float64 { revision, _ := s.store.Revision(); return float64(revision) }),
	)
	return m
}

// fromStatus returns a gauge's reading of value from s's node status at
// the scrape (0 if the node does not answer within a second).
func fromStatus(s *Server, value func(node.Status) float64) func() float64 {
	return func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		status, err := s.node.Status(ctx)
		if err != nil {
			return 0
		}
		return value(status)
	}
}

// observePersist records one durable write of the Raft log
// (node.Config.ObservePersist, called from the node's writer goroutine).
func (m *metrics) observePersist(elapsed time.Duration) {
	m.persistSeconds.Observe(elapsed.Seconds())
	m.etcd.walFsyncSeconds.Observe(elapsed.Seconds())
}

// unaryInterceptor counts and times every unary client request.
func (m *metrics) unaryInterceptor(ctx context.Context, request any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	response, err := handler(ctx, request)
	m.requestSeconds.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
	m.requests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return response, err
}

// peerConnections is the gauge of the peers this member's messages go to
// over one protocol: direct connections, or gRPC streams (older members,
// or a path that passes only HTTP/2; docs/transport.md).
func peerConnections(protocol string, direct bool, stats func() transport.Stats) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "lockstep_peer_message_connections",
		Help:        "Peers this member's Raft messages go to over an open connection, by protocol: direct, or grpc (a peer of an older version, or a path that passes only HTTP/2).",
		ConstLabels: prometheus.Labels{"protocol": protocol},
	}, func() float64 {
		count := 0
		for _, peer := range stats().Peers {
			if peer.Connected && peer.Direct == direct {
				count++
			}
		}
		return float64(count)
	})
}
