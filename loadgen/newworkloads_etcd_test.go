package loadgen_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lockstepdb/lockstep/loadgen"
)

// measureCalls records the calls of Config.OnMeasure.
type measureCalls struct {
	mutex sync.Mutex
	calls []string
}

func (m *measureCalls) record(stage string, begin bool) {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("%s:%v", stage, begin))
}

func (m *measureCalls) String() string {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	return strings.Join(m.calls, " ")
}

// TestWatchFanoutAgainstRealEtcd: every measured put reaches every
// watcher, each delivery is timed, and the measured window is reported.
func TestWatchFanoutAgainstRealEtcd(t *testing.T) {
	endpoint := startEtcd(t).ClientEndpoints()[0]
	config := loadgen.DefaultConfig()
	config.Workload, config.Endpoints = loadgen.WorkloadWatchFanout, []string{endpoint}
	config.Total, config.Connections, config.Watchers, config.Streams, config.KeySpace = 30, 2, 50, 5, 100
	var calls measureCalls
	config.OnMeasure = calls.record
	var last loadgen.Progress
	config.Progress = func(p loadgen.Progress) { last = p }
	before := revision(t, endpoint)
	result, err := loadgen.Run(context.Background(), config)
	if err != nil {
		t.Fatal(err)
	}
	if result.Operations != 30 || result.Errors != 0 || result.StoppedBy != "total" {
		t.Fatalf("%d puts, %d errors %v, stopped by %s; want 30 puts by total, no errors", result.Operations, result.Errors, result.ErrorsByKind, result.StoppedBy)
	}
	if result.EventsDelivered != 30*50 || result.Latency.Count != 30*50 || result.Latencies().Count() != 30*50 || result.EventsPerSecond <= 0 {
		t.Fatalf("%d events delivered (%d timed, %.0f/s), want %d", result.EventsDelivered, result.Latency.Count, result.EventsPerSecond, 30*50)
	}
	if fanout := result.LatencyByKind["fanout"]; fanout.Count != 30 || fanout.P50 < result.Latency.Min {
		t.Fatalf("fan-out latencies %+v, deliveries %+v", fanout, result.Latency)
	}
	if got := revision(t, endpoint) - before; got != 30 {
		t.Fatalf("the revision moved by %d, want 30", got)
	}
	if got := calls.String(); got != ":true :false" {
		t.Fatalf("OnMeasure calls %q, want one window", got)
	}
	if last.Events != 30*50 || last.Done != 30 {
		t.Fatalf("last progress %+v, want 30 done and %d events", last, 30*50)
	}
	var text strings.Builder
	result.WriteText(&text)
	if !strings.Contains(text.String(), "events       1500 delivered") || !strings.Contains(text.String(), "watchers     50 over 5 streams") {
		t.Fatalf("text result:\n%s", text.String())
	}
	t.Logf("\n%s", text.String())
}

// TestBigStoreAgainstRealEtcd runs the four stages on a scaled-down store.
func TestBigStoreAgainstRealEtcd(t *testing.T) {
	endpoint := startEtcd(t).ClientEndpoints()[0]
	config := loadgen.DefaultConfig()
	config.Workload, config.Endpoints = loadgen.WorkloadBigStore, []string{endpoint}
	config.Total, config.Clients, config.Connections, config.KeySpace, config.SmallKeySpace = 50, 4, 2, 1000, 100
	var calls measureCalls
	config.OnMeasure = calls.record
	var progressMutex sync.Mutex
	prefills := map[string]int64{} // stage: the last prefill report's keys
	config.Progress = func(p loadgen.Progress) {
		progressMutex.Lock()
		defer progressMutex.Unlock()
		if p.Phase == loadgen.PhasePrefill {
			prefills[p.Stage] = max(prefills[p.Stage], p.Total)
		}
	}
	before := revision(t, endpoint)
	result, err := loadgen.Run(context.Background(), config)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, stage := range result.Stages {
		names = append(names, stage.Stage)
		checkCounts(t, stage, 50)
	}
	if !slices.Equal(names, loadgen.BigStoreStages) {
		t.Fatalf("stages %v, want %v", names, loadgen.BigStoreStages)
	}
	small, big := result.BigStoreStage("small-range"), result.BigStoreStage("big-range")
	if small.KeySpace != 100 || big.KeySpace != 1000 || small.PrefillSeconds <= 0 || big.PrefillSeconds <= 0 || result.BigStoreStage("big-put").PrefillSeconds != 0 {
		t.Fatalf("small range %d keys prefilled in %v s, big %d in %v s", small.KeySpace, small.PrefillSeconds, big.KeySpace, big.PrefillSeconds)
	}
	if result.Operations != 200 || result.Errors != 0 || result.StoppedBy != "total" {
		t.Fatalf("big-store totals: %d operations, %d errors, stopped by %s", result.Operations, result.Errors, result.StoppedBy)
	}
	// 1 + 8 prefill transactions, 50 + 50 puts.
	if got := revision(t, endpoint) - before; got != 109 {
		t.Fatalf("the revision moved by %d, want 109", got)
	}
	if got := calls.String(); got != "small-range:true small-range:false small-put:true small-put:false big-range:true big-range:false big-put:true big-put:false" {
		t.Fatalf("OnMeasure calls %q", got)
	}
	progressMutex.Lock()
	if prefills["small-range"] != 100 || prefills["big-range"] != 1000 || len(prefills) != 2 {
		t.Fatalf("prefill reports %v", prefills)
	}
	progressMutex.Unlock()
	var text strings.Builder
	result.WriteText(&text)
	if !strings.Contains(text.String(), "big store    put:") || !strings.Contains(text.String(), "big-range: range") || !strings.Contains(text.String(), "prefill      1000 keys of 256 bytes") {
		t.Fatalf("text result:\n%s", text.String())
	}
}
