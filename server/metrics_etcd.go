package server

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
)

// etcdMetrics are the metrics etcd's dashboards and alerts read (etcd's
// Prometheus mixin: etcdNoLeader, etcdHighNumberOfLeaderChanges,
// etcdHighNumberOfFailedProposals, etcdHighFsyncDurations,
// etcdHighCommitDurations, etcdDatabaseQuotaLowSpace,
// etcdExcessiveDatabaseGrowth, etcdDatabaseHighFragmentationRatio,
// etcdMembersDown), under etcd's names, types, labels and buckets, beside
// lockstep's own: a cluster moved from etcd keeps its monitoring.
// The gRPC ones are grpcMetrics.
type etcdMetrics struct {
	walFsyncSeconds      prometheus.Histogram
	backendCommitSeconds prometheus.Histogram
	// peerRoundTripSeconds is observed on the leader, from its heartbeats
	// (node.Config.ObservePeerRoundTrip): etcd's comes from a probe every
	// member sends each peer, so a follower's stays empty here.
	peerRoundTripSeconds *prometheus.HistogramVec
	// peerRoundTrips holds peerRoundTripSeconds' observer of each peer;
	// used by the node's loop goroutine only.
	peerRoundTrips map[raft.NodeID]prometheus.Observer
}

// etcdDiskBuckets are etcd's buckets for its disk latencies: 1 ms to 8 s.
var etcdDiskBuckets = prometheus.ExponentialBuckets(0.001, 2, 14)

func newEtcdMetrics() etcdMetrics {
	return etcdMetrics{
		walFsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "etcd_disk_wal_fsync_duration_seconds",
			Help: "The latency distributions of fsync called by WAL.", Buckets: etcdDiskBuckets}),
		backendCommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "etcd_disk_backend_commit_duration_seconds",
			Help: "The latency distributions of commit called by backend.", Buckets: etcdDiskBuckets}),
		peerRoundTripSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "etcd_network_peer_round_trip_time_seconds",
			Help: "Round-Trip-Time histogram between peers", Buckets: etcdRoundTripBuckets}, []string{"To"}),
		peerRoundTrips: map[raft.NodeID]prometheus.Observer{},
	}
}

// etcdRoundTripBuckets are etcd's buckets for peer round trips: 0.1 ms to
// 3.3 s.
var etcdRoundTripBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16)

// observePeerRoundTrip records a heartbeat's round trip to peer
// (node.Config.ObservePeerRoundTrip, from the node's loop).
func (e etcdMetrics) observePeerRoundTrip(peer raft.NodeID, elapsed time.Duration) {
	observer, ok := e.peerRoundTrips[peer]
	if !ok {
		observer = e.peerRoundTripSeconds.WithLabelValues(fmt.Sprintf("%x", uint64(peer)))
		e.peerRoundTrips[peer] = observer
	}
	observer.Observe(elapsed.Seconds())
}

// etcdCollectors returns etcd's metrics of server s: the histograms of m,
// and gauges and counters read from the server when scraped.
func (m *metrics) etcdCollectors(s *Server) []prometheus.Collector {
	flag := func(on bool) float64 {
		if on {
			return 1
		}
		return 0
	}
	gauge := func(name, help string, value func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, value)
	}
	counter := func(name, help string, value func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, value)
	}
	constant := func(name, help, label, value string) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{label: value}}, func() float64 { return 1 })
	}
	return []prometheus.Collector{
		m.etcd.walFsyncSeconds, m.etcd.backendCommitSeconds, m.etcd.peerRoundTripSeconds,
		gauge("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.",
			func() float64 { return flag(s.leader.Load() != 0) }),
		gauge("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.",
			func() float64 { return flag(s.leader.Load() == uint64(s.id)) }),
		gauge("etcd_server_is_learner", "Whether or not this member is a learner. 1 if is, 0 otherwise.",
			fromStatus(s, func(st node.Status) float64 { return flag(slices.Contains(st.Membership.Learners, s.id)) })),
		counter("etcd_server_leader_changes_seen_total", "The number of leader changes seen.",
			func() float64 { return metricValue(m.leaderChanges).GetCounter().GetValue() }),
		counter("etcd_server_proposals_failed_total", "The total number of failed proposals seen.",
			func() float64 { return metricValue(m.proposalsFailed).GetCounter().GetValue() }),
		gauge("etcd_server_proposals_pending", "The current number of pending proposals to commit.",
			func() float64 { return float64(m.pendingProposals.Load()) }),
		gauge("etcd_server_proposals_committed_total", "The total number of consensus proposals committed.",
			fromStatus(s, func(st node.Status) float64 { return float64(st.Commit) })),
		gauge("etcd_server_proposals_applied_total", "The total number of consensus proposals applied.",
			fromStatus(s, func(st node.Status) float64 { return float64(st.Applied) })),
		gauge("etcd_server_quota_backend_bytes", "Current backend storage quota size in bytes.",
			func() float64 { return float64(s.config.QuotaBackendBytes) }),
		gauge("etcd_mvcc_db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes.",
			func() float64 { total, _ := s.store.Size(); return float64(total) }),
		gauge("etcd_mvcc_db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes.",
			func() float64 { _, inUse := s.store.Size(); return float64(inUse) }),
		constant("etcd_server_id", "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
			"server_id", fmt.Sprintf("%x", uint64(s.id))),
		constant("etcd_server_version", "Which version is running. 1 for 'server_version' label with current version.",
			"server_version", EmulatedVersion),
		constant("etcd_cluster_version", "Which version is running. 1 for 'cluster_version' label with current cluster version",
			"cluster_version", EmulatedVersion[:3]),
		peerSendFailures{s},
	}
}

// peerSendFailures is etcd_network_peer_sent_failures_total, one series per
// peer (label To, its ID in hexadecimal, as etcd's): the messages to it
// dropped because its queue was full, and the message streams to it that
// broke or could not be opened. While a peer is down the transport tries
// again at least every 2 s, so the count rises as etcd's does, which
// etcd's etcdMembersDown alert watches for.
type peerSendFailures struct{ server *Server }

var peerSendFailuresDescription = prometheus.NewDesc("etcd_network_peer_sent_failures_total",
	"The total number of send failures from peers.", []string{"To"}, nil)

func (p peerSendFailures) Describe(descriptions chan<- *prometheus.Desc) {
	descriptions <- peerSendFailuresDescription
}

func (p peerSendFailures) Collect(metrics chan<- prometheus.Metric) {
	for id, peer := range p.server.peers.Stats().Peers {
		metrics <- prometheus.MustNewConstMetric(peerSendFailuresDescription, prometheus.CounterValue,
			float64(peer.DroppedQueueFull+peer.StreamFailures), fmt.Sprintf("%x", uint64(id)))
	}
}
