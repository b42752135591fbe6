package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/lockstepdb/lockstep/internal/poll"
)

// etcdMetricNames are the metrics of etcd's names lockstep serves: every
// one that etcd's Prometheus alerts read, and the gRPC counters.
var etcdMetricNames = []string{
	"etcd_server_has_leader", "etcd_server_is_leader", "etcd_server_is_learner",
	"etcd_server_leader_changes_seen_total", "etcd_server_proposals_failed_total",
	"etcd_server_proposals_pending", "etcd_server_proposals_committed_total",
	"etcd_server_proposals_applied_total", "etcd_server_quota_backend_bytes",
	"etcd_mvcc_db_total_size_in_bytes", "etcd_mvcc_db_total_size_in_use_in_bytes",
	"etcd_server_id", "etcd_server_version", "etcd_cluster_version",
	"etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds",
	"grpc_server_started_total", "grpc_server_handled_total",
	"grpc_server_msg_received_total", "grpc_server_msg_sent_total",
}

// scrape reads the text exposition of /metrics on a client endpoint.
func scrape(t *testing.T, endpoint string) map[string]*dto.MetricFamily {
	t.Helper()
	response, err := http.Get("http://" + endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(response.Body)
	if err != nil {
		t.Fatalf("metrics of %s: %v", endpoint, err)
	}
	return families
}

// sample returns the value of family's series whose labels include
// labels (pairs of name and value), or -1 if it has none.
func sample(families map[string]*dto.MetricFamily, family string, labels ...string) float64 {
	found := families[family]
	if found == nil {
		return -1
	}
	for _, metric := range found.Metric {
		if hasLabels(metric, labels) {
			switch {
			case metric.Counter != nil:
				return metric.Counter.GetValue()
			case metric.Gauge != nil:
				return metric.Gauge.GetValue()
			case metric.Histogram != nil:
				return float64(metric.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

func hasLabels(metric *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		if !slices.ContainsFunc(metric.Label, func(pair *dto.LabelPair) bool {
			return pair.GetName() == labels[i] && pair.GetValue() == labels[i+1]
		}) {
			return false
		}
	}
	return true
}

// TestEtcdMetricsFollowTheCluster: on a 3-member cluster, after writes, a
// refused request and a watch, the etcd-named metrics say what etcd's
// would: one leader, a leader known everywhere, the proposals committed
// and applied, the disk latencies observed, every call counted by type,
// method and code, each peer's send failures, and the member's identity.
func TestEtcdMetricsFollowTheCluster(t *testing.T) {
	cluster := startCluster(t, 3, func(config *Config) { config.QuotaBackendBytes = 1 << 30 })
	ctx := testContext(t)
	leader := cluster.leader()
	client := cluster.client(cluster.endpoint(leader))
	const writes = 10
	for i := range writes {
		mustPut(t, ctx, client, fmt.Sprintf("key-%d", i), "value")
	}
	if _, err := client.Put(ctx, "", "no key"); err == nil {
		t.Fatal("a put without a key succeeded")
	}
	watchContext, stopWatch := context.WithCancel(ctx)
	watch := client.Watch(watchContext, "watched")
	mustPut(t, ctx, client, "watched", "1")
	if event := <-watch; len(event.Events) != 1 {
		t.Fatalf("watch: %+v", event)
	}
	stopWatch()

	// The leader times heartbeats, the first a heartbeat after its
	// election.
	poll.Until(t, "the leader to time a heartbeat to each follower", func() bool {
		roundTrips := scrape(t, cluster.endpoint(leader))["etcd_network_peer_round_trip_time_seconds"]
		return roundTrips != nil && len(roundTrips.Metric) == 2
	})
	leaders := 0.0
	for i, member := range cluster.members {
		families := scrape(t, cluster.endpoint(i))
		for _, name := range etcdMetricNames {
			if families[name] == nil {
				t.Errorf("member %d serves no %s", i, name)
			}
		}
		leaders += sample(families, "etcd_server_is_leader")
		for name, want := range map[string]float64{"etcd_server_has_leader": 1, "etcd_server_is_learner": 0,
			"etcd_server_quota_backend_bytes": 1 << 30, "etcd_server_proposals_pending": 0} {
			if got := sample(families, name); got != want {
				t.Errorf("member %d: %s = %v, want %v", i, name, got, want)
			}
		}
		if got := sample(families, "etcd_server_leader_changes_seen_total"); got < 1 {
			t.Errorf("member %d saw %v leader changes, want at least 1", i, got)
		}
		if got := sample(families, "etcd_server_id", "server_id", fmt.Sprintf("%x", uint64(member.ID()))); got != 1 {
			t.Errorf("member %d: etcd_server_id with its ID = %v", i, got)
		}
		if got := sample(families, "etcd_server_version", "server_version", EmulatedVersion); got != 1 {
			t.Errorf("member %d: etcd_server_version %v", i, got)
		}
		if got := sample(families, "etcd_mvcc_db_total_size_in_bytes"); got <= 0 {
			t.Errorf("member %d: database size %v", i, got)
		}
		if got := sample(families, "etcd_disk_wal_fsync_duration_seconds"); got < writes {
			t.Errorf("member %d: %v log fsyncs observed, want at least %d", i, got, writes)
		}
		// The other members apply on their own schedule; the one asked
		// has applied every write it answered.
		if i == leader {
			if got := sample(families, "etcd_server_proposals_applied_total"); got < writes+1 {
				t.Errorf("leader applied %v entries, want at least %d", got, writes+1)
			}
			if got := sample(families, "etcd_disk_backend_commit_duration_seconds"); got < 1 {
				t.Errorf("leader: %v backend commits observed", got)
			}
			if got, applied := sample(families, "etcd_server_proposals_committed_total"), sample(families, "etcd_server_proposals_applied_total"); got < applied {
				t.Errorf("leader committed %v entries, below the %v applied", got, applied)
			}
			put := []string{"grpc_type", "unary", "grpc_service", "etcdserverpb.KV", "grpc_method", "Put"}
			for name, want := range map[string]float64{
				"grpc_server_started_total":      writes + 2,
				"grpc_server_msg_received_total": writes + 2,
				"grpc_server_msg_sent_total":     writes + 1,
			} {
				if got := sample(families, name, put...); got != want {
					t.Errorf("%s for Put = %v, want %v", name, got, want)
				}
			}
			if got := sample(families, "grpc_server_handled_total", append(put, "grpc_code", "OK")...); got != writes+1 {
				t.Errorf("Puts handled OK: %v, want %d", got, writes+1)
			}
			if got := sample(families, "grpc_server_handled_total", append(put, "grpc_code", "InvalidArgument")...); got != 1 {
				t.Errorf("Puts handled InvalidArgument: %v, want 1", got)
			}
			if got := sample(families, "grpc_server_handled_total", append(put, "grpc_code", "DataLoss")...); got != 0 {
				t.Errorf("Puts handled DataLoss: %v, want a series at 0 (made before any call)", got)
			}
			watchLabels := []string{"grpc_type", "bidi_stream", "grpc_service", "etcdserverpb.Watch", "grpc_method", "Watch"}
			if got := sample(families, "grpc_server_started_total", watchLabels...); got != 1 {
				t.Errorf("watch streams started: %v, want 1", got)
			}
			if got := sample(families, "grpc_server_msg_received_total", watchLabels...); got < 1 {
				t.Errorf("watch requests received: %v", got)
			}
			if got := sample(families, "grpc_server_msg_sent_total", watchLabels...); got < 2 {
				t.Errorf("watch responses sent: %v, want the creation and the event", got)
			}
			roundTrips := families["etcd_network_peer_round_trip_time_seconds"]
			if roundTrips == nil || roundTrips.GetType() != dto.MetricType_HISTOGRAM ||
				!slices.Equal(labelNames(roundTrips), []string{"To"}) || !slices.Equal(bucketBounds(roundTrips), etcdRoundTripBounds()) {
				t.Errorf("the leader's peer round trips: %v, want a histogram by To with etcd's buckets", roundTrips)
			}
			for _, peer := range cluster.members {
				if peer == member {
					continue
				}
				if got := sample(families, "etcd_network_peer_round_trip_time_seconds", "To", fmt.Sprintf("%x", uint64(peer.ID()))); got < 1 {
					t.Errorf("round trips to %x: %v observed, want heartbeats timed", uint64(peer.ID()), got)
				}
				// Not necessarily 0: members starting side by side may
				// try a peer before it listens.
				if got := sample(families, "etcd_network_peer_sent_failures_total", "To", fmt.Sprintf("%x", uint64(peer.ID()))); got < 0 {
					t.Errorf("no series of send failures to %x", uint64(peer.ID()))
				}
			}
		}
	}
	if leaders != 1 {
		t.Errorf("%v members say they lead", leaders)
	}
}

// TestEtcdMetricsCountFailedProposalsAndPeersDown: with two of three
// members stopped, a write fails (etcd_server_proposals_failed_total
// rises), the member sees no leader, and the messages to the stopped
// peers pile up as send failures, which etcd's etcdMembersDown alert reads.
func TestEtcdMetricsCountFailedProposalsAndPeersDown(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	leader := cluster.leader()
	mustPut(t, ctx, cluster.client(), "k", "v")
	survivor := (leader + 1) % 3
	for i := range cluster.members {
		if i != survivor {
			cluster.stop(i)
		}
	}
	endpoint := cluster.endpoint(survivor)
	poll.Until(t, "the survivor to lose its leader", func() bool { return sample(scrape(t, endpoint), "etcd_server_has_leader") == 0 })
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := cluster.client(endpoint).Put(short, "k", "lost")
	cancel()
	if err == nil {
		t.Fatal("a write succeeded without a quorum")
	}
	poll.Until(t, "the survivor to count the failed proposal and fail to send", func() bool {
		families := scrape(t, endpoint)
		if sample(families, "etcd_server_proposals_failed_total") < 1 {
			return false
		}
		failures := families["etcd_network_peer_sent_failures_total"]
		if failures == nil || len(failures.Metric) != 2 {
			return false
		}
		for _, metric := range failures.Metric {
			if metric.Counter.GetValue() == 0 {
				return false
			}
		}
		return true
	})
}

// TestEtcdMetricsMatchEtcd scrapes etcd v3.7.3's client port and
// lockstep's: every metric lockstep serves under an etcd name, etcd serves
// too, with the same type and the same label names, and the disk
// histograms have etcd's buckets, so that etcd's dashboards and alerts
// read lockstep's as they read etcd's.
func TestEtcdMetricsMatchEtcd(t *testing.T) {
	etcdEndpoint := startEtcd(t)
	ctx := testContext(t)
	etcdClient, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdEndpoint}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer etcdClient.Close()
	poll.Until(t, "etcd to answer", func() bool {
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := etcdClient.Put(short, "k", "v")
		return err == nil
	})
	cluster := startCluster(t, 1, nil)
	mustPut(t, ctx, cluster.client(), "k", "v")
	etcd, lockstep := scrape(t, etcdEndpoint), scrape(t, cluster.endpoint(0))
	for _, name := range etcdMetricNames {
		theirs, ours := etcd[name], lockstep[name]
		if theirs == nil || ours == nil {
			t.Errorf("%s: etcd serves it: %v, lockstep: %v", name, theirs != nil, ours != nil)
			continue
		}
		if theirs.GetType() != ours.GetType() {
			t.Errorf("%s: etcd's is a %v, lockstep's a %v", name, theirs.GetType(), ours.GetType())
		}
		if want, got := labelNames(theirs), labelNames(ours); !slices.Equal(want, got) {
			t.Errorf("%s: etcd's labels %v, lockstep's %v", name, want, got)
		}
		if theirs.GetType() == dto.MetricType_HISTOGRAM {
			if want, got := bucketBounds(theirs), bucketBounds(ours); !slices.Equal(want, got) {
				t.Errorf("%s: etcd's buckets %v, lockstep's %v", name, want, got)
			}
		}
	}
	// The gRPC counters exist for the same methods, made before any call.
	for _, family := range []string{"grpc_server_started_total", "grpc_server_handled_total"} {
		missing := labelValues(etcd[family], "grpc_method")
		for method := range labelValues(lockstep[family], "grpc_method") {
			delete(missing, method)
		}
		if len(missing) > 0 {
			t.Errorf("%s: etcd has series for methods lockstep has none for: %v", family, keys(missing))
		}
	}
}

// etcdRoundTripBounds are the buckets of etcd's
// etcd_network_peer_round_trip_time_seconds (rafthttp's metrics.go): 0.1 ms
// doubling, 16 of them. A single-member etcd has no peer to show them.
func etcdRoundTripBounds() []float64 {
	bounds := []float64{0.0001}
	for len(bounds) < 16 {
		bounds = append(bounds, bounds[len(bounds)-1]*2)
	}
	return bounds
}

func labelNames(family *dto.MetricFamily) []string {
	seen := map[string]bool{}
	for _, metric := range family.Metric {
		for _, pair := range metric.Label {
			seen[pair.GetName()] = true
		}
	}
	names := keys(seen)
	sort.Strings(names)
	return names
}

func labelValues(family *dto.MetricFamily, label string) map[string]bool {
	values := map[string]bool{}
	if family == nil {
		return values
	}
	for _, metric := range family.Metric {
		for _, pair := range metric.Label {
			if pair.GetName() == label {
				values[pair.GetValue()] = true
			}
		}
	}
	return values
}

func bucketBounds(family *dto.MetricFamily) []float64 {
	if len(family.Metric) == 0 {
		return nil
	}
	var bounds []float64
	for _, bucket := range family.Metric[0].Histogram.Bucket {
		if !math.IsInf(bucket.GetUpperBound(), 1) { // the exposition's own +Inf bucket
			bounds = append(bounds, bucket.GetUpperBound())
		}
	}
	return bounds
}
