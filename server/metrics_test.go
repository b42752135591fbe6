package server

import (
	"fmt"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/lockstepdb/lockstep/internal/poll"
)

// TestWriteStageMetrics: after writes on a single member (whose leader
// must persist an entry before it commits), every stage of the latency
// budget has observations, and the cumulative stages are in order.
func TestWriteStageMetrics(t *testing.T) {
	cluster := startCluster(t, 1, nil)
	ctx := testContext(t)
	client := cluster.client()
	const writes = 20
	for range writes {
		mustPut(t, ctx, client, "k", "v")
	}
	stages := map[string]*dto.Histogram{}
	for stage, metric := range metricsByLabel(t, cluster.members[0], "lockstep_write_stage_seconds", "stage") {
		stages[stage] = metric.Histogram
	}
	order := []string{"appended", "persisted", "committed", "applied"}
	for _, stage := range append([]string{"checked", "answered"}, order...) {
		histogram := stages[stage]
		if histogram == nil || histogram.GetSampleCount() < writes {
			t.Fatalf("stage %s: %v, want at least %d observations (stages: %s)", stage, histogram, writes, strings.Join(keys(stages), ","))
		}
	}
	for i := 1; i < len(order); i++ {
		if earlier, later := stages[order[i-1]].GetSampleSum(), stages[order[i]].GetSampleSum(); later < earlier {
			t.Fatalf("stage %s sums %v s, below %s's %v s", order[i], later, order[i-1], earlier)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var list []string
	for key := range m {
		list = append(list, key)
	}
	return list
}

// TestPeerConnectionMetrics: in a cluster of this version every member
// sends to both others on direct connections, and the gauge says so.
func TestPeerConnectionMetrics(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	mustPut(t, testContext(t), cluster.client(), "k", "v") // every member has heard from the leader
	for _, member := range cluster.members {
		poll.Until(t, fmt.Sprintf("member %s to send to both others on direct connections", member.config.Name), func() bool {
			counts := peerConnectionCounts(t, member)
			return counts["direct"] == 2 && counts["grpc"] == 0
		})
	}
}

func peerConnectionCounts(t *testing.T, member *Server) map[string]float64 {
	t.Helper()
	counts := map[string]float64{}
	for protocol, metric := range metricsByLabel(t, member, "lockstep_peer_message_connections", "protocol") {
		counts[protocol] = metric.GetGauge().GetValue()
	}
	return counts
}

// metricsByLabel gathers member's metric family name and returns its
// metrics by the value of their label.
func metricsByLabel(t *testing.T, member *Server, name, label string) map[string]*dto.Metric {
	t.Helper()
	families, err := member.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	metrics := map[string]*dto.Metric{}
	for _, family := range families {
		if family.GetName() != name {
			continue
		}
		for _, metric := range family.Metric {
			for _, pair := range metric.Label {
				if pair.GetName() == label {
					metrics[pair.GetValue()] = metric
				}
			}
		}
	}
	return metrics
}
