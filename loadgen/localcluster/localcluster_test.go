package localcluster

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/etcdbin"
)

func TestStartsAnEtcdMemberAndStopsIt(t *testing.T) {
	cluster, err := StartEtcd(context.Background(), t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	endpoints := cluster.ClientEndpoints()
	if len(endpoints) != 1 || !strings.HasPrefix(endpoints[0], "127.0.0.1:") {
		t.Fatalf("endpoints %v, want one on 127.0.0.1", endpoints)
	}
	member := cluster.Members()[0]
	for _, want := range []string{"--name member1", "--initial-cluster member1=" + member.PeerURL, "--heartbeat-interval 100", "--election-timeout 1000", "--initial-cluster-state new"} {
		if !strings.Contains(member.CommandLine(), want) {
			t.Errorf("command line %q lacks %q", member.CommandLine(), want)
		}
	}
	uses, err := cluster.Memory()
	if err != nil {
		t.Fatal(err)
	}
	if use := uses[0]; use.Peak < 1<<20 || use.Resident > use.Peak || use.Anonymous+use.File > use.Resident || use.Anonymous == 0 || use.File == 0 {
		t.Fatalf("memory %+v: implausible (a peak under 1 MiB, above the peak now, or parts that do not add up)", use)
	}
	cluster.Stop()
	select {
	case <-member.exited:
	default:
		t.Fatal("Stop returned with the member still running")
	}
	if _, err := os.Stat(member.DataDirectory); err != nil {
		t.Fatalf("the member's data directory: %v", err)
	}
	cluster.Stop() // a second Stop is harmless
}

func TestMetricsListenersServeEachMembersMetrics(t *testing.T) {
	path, err := etcdbin.Path("etcd")
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := Start(context.Background(), Options{
		Command: []string{path}, Members: 1, Directory: t.TempDir(),
		HeartbeatInterval: 100 * time.Millisecond, ElectionTimeout: time.Second, MetricsListeners: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	member := cluster.Members()[0]
	if !strings.HasPrefix(member.MetricsURL, "http://127.0.0.1:") || member.MetricsURL == member.ClientURL || member.MetricsURL == member.PeerURL {
		t.Fatalf("metrics URL %q: want a port of its own on 127.0.0.1 (client %s, peer %s)", member.MetricsURL, member.ClientURL, member.PeerURL)
	}
	if !strings.Contains(member.CommandLine(), "--listen-metrics-urls "+member.MetricsURL) {
		t.Fatalf("command line %q does not pass the metrics URL", member.CommandLine())
	}
	response, err := http.Get(member.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	if response.StatusCode != http.StatusOK || !strings.Contains(string(body), "etcd_server_has_leader") {
		t.Fatalf("GET %s/metrics: %s, want etcd's metrics", member.MetricsURL, response.Status)
	}
}

func TestAMemberThatExitsFailsTheStartWithItsLog(t *testing.T) {
	path, err := etcdbin.Path("etcd")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Options{
		Command: []string{path}, Members: 1, Directory: t.TempDir(),
		ExtraArguments: []string{"--no-such-flag"},
	})
	if err == nil || !strings.Contains(err.Error(), "exited before the cluster was ready") || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("error %v, want one saying the member exited, with its log", err)
	}
	if _, err := Start(context.Background(), Options{Members: 1}); err == nil {
		t.Fatal("Start without a command succeeded")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"--name": "--name", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "x=http://1.2.3.4:5,y": "x=http://1.2.3.4:5,y"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
