package loadgen_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/internal/etcdbin"
	"github.com/lockstepdb/lockstep/loadgen"
	"github.com/lockstepdb/lockstep/loadgen/localcluster"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// startEtcd starts a one-member etcd v3.7.3 in t's temporary directory,
// stopped when t ends.
func startEtcd(t *testing.T) *localcluster.Cluster {
	t.Helper()
	cluster, err := localcluster.StartEtcd(context.Background(), t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Stop)
	return cluster
}

// revision returns the store's current revision.
func revision(t *testing.T, endpoint string) int64 {
	t.Helper()
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	response, err := client.Get(ctx, "no-such-key")
	if err != nil {
		t.Fatal(err)
	}
	return response.Header.Revision
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close()
	return address
}

// checkCounts checks what every successful bounded run must show.
func checkCounts(t *testing.T, result *loadgen.Result, total int64) {
	t.Helper()
	if result.Errors != 0 || len(result.ErrorsByKind) != 0 {
		t.Errorf("%d errors against a healthy etcd: %v", result.Errors, result.ErrorsByKind)
	}
	if result.Operations+result.Errors != total || result.StoppedBy != "total" {
		t.Errorf("%d operations + %d errors, stopped by %s; want %d by total", result.Operations, result.Errors, result.StoppedBy, total)
	}
	if result.Latency.Count != result.Operations || result.Latencies().Count() != result.Operations {
		t.Errorf("latency count %d, want %d", result.Latency.Count, result.Operations)
	}
	var binned int64
	for _, bin := range result.Histogram {
		binned += bin.Count
	}
	if binned != result.Operations {
		t.Errorf("the histogram holds %d operations, want %d", binned, result.Operations)
	}
	l := result.Latency
	if !(l.Min > 0 && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("percentiles out of order: %+v", l)
	}
	if result.OperationsPerSecond <= 0 || result.ElapsedSeconds <= 0 {
		t.Errorf("throughput %v ops/s over %v s", result.OperationsPerSecond, result.ElapsedSeconds)
	}
}

// TestEveryWorkloadAgainstRealEtcd runs each workload for 200 operations
// and checks the counts against what the store recorded.
func TestEveryWorkloadAgainstRealEtcd(t *testing.T) {
	endpoint := startEtcd(t).ClientEndpoints()[0]
	const total = 200
	const keySpace = 300 // 3 prefill transactions of up to 128 puts
	base := loadgen.DefaultConfig()
	base.Endpoints = []string{endpoint}
	base.Total, base.Clients, base.Connections, base.KeySpace = total, 8, 2, keySpace

	// writes returns how many revisions a result should have added.
	prefillTransactions := int64(3)
	writes := map[loadgen.Workload]func(*loadgen.Result) int64{
		loadgen.WorkloadPut:          func(r *loadgen.Result) int64 { return r.Operations },
		loadgen.WorkloadRange:        func(*loadgen.Result) int64 { return prefillTransactions },
		loadgen.WorkloadTxnPut:       func(r *loadgen.Result) int64 { return r.Operations - r.FailedCompares },
		loadgen.WorkloadWatchLatency: func(r *loadgen.Result) int64 { return r.Operations },
		loadgen.WorkloadMixed: func(r *loadgen.Result) int64 {
			return prefillTransactions + r.LatencyByKind["put"].Count
		},
	}
	for _, workload := range loadgen.Workloads {
		if workload == loadgen.WorkloadWatchFanout || workload == loadgen.WorkloadBigStore {
			continue // TestWatchFanoutAgainstRealEtcd, TestBigStoreAgainstRealEtcd
		}
		t.Run(string(workload), func(t *testing.T) {
			config := base
			config.Workload = workload
			var lastProgress loadgen.Progress
			var progressMutex sync.Mutex
			config.Progress = func(p loadgen.Progress) {
				progressMutex.Lock()
				defer progressMutex.Unlock()
				lastProgress = p
			}
			before := revision(t, endpoint)
			result, err := loadgen.Run(context.Background(), config)
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, result, total)
			if got, want := revision(t, endpoint)-before, writes[workload](result); got != want {
				t.Errorf("the store's revision moved by %d, want %d", got, want)
			}
			if lastProgress.Phase != loadgen.PhaseMeasure || lastProgress.Done != total {
				t.Errorf("last progress report %+v, want the measure phase with %d done", lastProgress, total)
			}
			encoded, err := json.Marshal(result)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
			if err := json.Unmarshal(encoded, &fields); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"workload", "operations", "errors", "errors_by_kind", "ops_per_second", "latency", "histogram", "stopped_by"} {
				if _, ok := fields[name]; !ok {
					t.Errorf("the JSON result lacks %q: %s", name, encoded)
				}
			}
			var text strings.Builder
			if err := result.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "p99.9") || !strings.Contains(text.String(), "histogram") {
				t.Errorf("the text result lacks percentiles or the histogram:\n%s", text.String())
			}
		})
	}
	t.Run("mixed ratio", func(t *testing.T) {
		config := base
		config.Workload, config.ReadRatio, config.Consistency = loadgen.WorkloadMixed, 0.5, loadgen.Serializable
		result, err := loadgen.Run(context.Background(), config)
		if err != nil {
			t.Fatal(err)
		}
		checkCounts(t, result, total)
		puts, reads := result.LatencyByKind["put"].Count, result.LatencyByKind["range"].Count
		if puts+reads != result.Operations || puts < 50 || reads < 50 {
			t.Errorf("%d puts and %d ranges at read ratio 0.5 over %d operations", puts, reads, result.Operations)
		}
	})
	t.Run("duration and warmup", func(t *testing.T) {
		config := base
		config.Total, config.Duration, config.Warmup = 0, 300*time.Millisecond, 100*time.Millisecond
		result, err := loadgen.Run(context.Background(), config)
		if err != nil {
			t.Fatal(err)
		}
		if result.StoppedBy != "duration" || result.ElapsedSeconds > 0.3001 || result.ElapsedSeconds < 0.25 || result.Operations == 0 {
			t.Errorf("stopped by %s after %v s with %d operations; want duration, about 0.3 s", result.StoppedBy, result.ElapsedSeconds, result.Operations)
		}
	})
	t.Run("target leader and an unreachable endpoint", func(t *testing.T) {
		config := base
		config.DialTimeout = 500 * time.Millisecond
		dead := closedPort(t)
		config.Endpoints = []string{dead, endpoint}
		config.TargetLeader = true
		result, err := loadgen.Run(context.Background(), config)
		if err != nil {
			t.Fatal(err)
		}
		checkCounts(t, result, total)
		if len(result.Endpoints) != 1 || result.Endpoints[0] != endpoint || len(result.UnreachableEndpoints) != 1 || result.UnreachableEndpoints[0] != dead {
			t.Errorf("endpoints %v, unreachable %v; want [%s] and [%s]", result.Endpoints, result.UnreachableEndpoints, endpoint, dead)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		config := base
		config.Total, config.Duration = 0, time.Minute
		ctx, cancel := context.WithCancel(context.Background())
		config.Progress = func(p loadgen.Progress) {
			if p.Done > 20 {
				cancel()
			}
		}
		result, err := loadgen.Run(ctx, config)
		if err != nil {
			t.Fatal(err)
		}
		if result.StoppedBy != "interrupted" || result.Errors != 0 || result.Operations < 20 {
			t.Errorf("stopped by %s with %d operations and %d errors; want interrupted, no errors", result.StoppedBy, result.Operations, result.Errors)
		}
	})
}

func TestNoReachableEndpointIsAClearError(t *testing.T) {
	config := loadgen.DefaultConfig()
	config.Endpoints = []string{closedPort(t), closedPort(t)}
	config.Total, config.DialTimeout = 10, 300*time.Millisecond
	_, err := loadgen.Run(context.Background(), config)
	if err == nil || !strings.Contains(err.Error(), "none of the endpoints answered") || !strings.Contains(err.Error(), config.Endpoints[1]) {
		t.Fatalf("error %v, want one saying no endpoint answered, naming them", err)
	}
	config.Total = 0
	if _, err := loadgen.Run(context.Background(), config); err == nil || !strings.Contains(err.Error(), "--total or --duration") {
		t.Fatalf("an unbounded run gave %v", err)
	}
}

// TestErrorsAreCountedNotFatal stops the server in the middle of a run:
// the run goes on to its end, counting the failures by kind.
func TestErrorsAreCountedNotFatal(t *testing.T) {
	cluster := startEtcd(t)
	config := loadgen.DefaultConfig()
	config.Endpoints = cluster.ClientEndpoints()
	config.Duration, config.OperationTimeout, config.Clients = time.Second, 100*time.Millisecond, 4
	var stopOnce sync.Once
	config.Progress = func(p loadgen.Progress) {
		if p.Done > 20 {
			stopOnce.Do(func() { go cluster.Stop() })
		}
	}
	result, err := loadgen.Run(context.Background(), config)
	if err != nil {
		t.Fatal(err)
	}
	var byKind int64
	for _, n := range result.ErrorsByKind {
		byKind += n
	}
	if result.StoppedBy != "duration" || result.Operations < 20 || result.Errors == 0 || byKind != result.Errors {
		t.Fatalf("stopped by %s, %d operations, %d errors by kind %v; want the full duration, errors counted by kind",
			result.StoppedBy, result.Operations, result.Errors, result.ErrorsByKind)
	}
	var text strings.Builder
	result.WriteText(&text)
	t.Logf("\n%s", text.String())
}

// TestPrefillErrorsAreCountedByKind: against an etcd that takes at most 64
// operations in a transaction, the prefill of 300 keys fails its two
// transactions of 128 puts (its last, of 44, succeeds), and the result
// says why, in JSON and in text.
func TestPrefillErrorsAreCountedByKind(t *testing.T) {
	path, err := etcdbin.Path("etcd")
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := localcluster.Start(context.Background(), localcluster.Options{
		Command: []string{path}, Members: 1, Directory: t.TempDir(),
		ExtraArguments: []string{"--max-txn-ops", "64"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Stop)
	config := loadgen.DefaultConfig()
	config.Endpoints = cluster.ClientEndpoints()
	config.Workload, config.Total, config.Clients, config.Connections, config.KeySpace = loadgen.WorkloadRange, 10, 2, 1, 300
	result, err := loadgen.Run(context.Background(), config)
	if err != nil {
		t.Fatal(err)
	}
	const kind = "InvalidArgument: etcdserver: too many operations in txn request"
	if result.PrefillErrors != 2 || result.PrefillErrorsByKind[kind] != 2 {
		t.Fatalf("prefill errors %d by kind %v, want 2 of %q", result.PrefillErrors, result.PrefillErrorsByKind, kind)
	}
	var text strings.Builder
	if err := result.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "2 transactions failed") || !strings.Contains(text.String(), kind) {
		t.Errorf("the text result does not say why the prefill failed:\n%s", text.String())
	}
}
