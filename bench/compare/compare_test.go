package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/loadgen"
)

func TestParseOptionsRejectsBadFlags(t *testing.T) {
	for _, test := range []struct {
		args []string
		want string
	}{
		{[]string{"--systems", "etcd,consul"}, `--systems: unknown system "consul"`},
		{[]string{"--systems", "etcd,etcd"}, "--systems names etcd twice"},
		{[]string{"--rounds", "0"}, "--rounds 0 must be at least 1"},
		{[]string{"--duration", "0s"}, "--duration 0s must be positive"},
		{[]string{"--warmup", "-1s"}, "--warmup -1s must not be negative"},
		{[]string{"--rounds", "50", "--duration", "1m"}, "more than --timeout 15m0s: lower --rounds or --duration"},
		{[]string{"stray"}, `unexpected arguments ["stray"]`},
	} {
		_, err := parseOptions(test.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("%v: error %v, want one containing %q", test.args, err, test.want)
		}
	}
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if planned := o.plannedDuration(); planned > 15*time.Minute || len(o.systems) != 2 || o.rounds != 3 {
		t.Fatalf("defaults: systems %v, %d rounds, planned %v; want both systems, 3 rounds, within 15 minutes", o.systems, o.rounds, planned)
	}
}

func TestSpreadAndFormats(t *testing.T) {
	if s := spreadOf([]float64{5, 1, 3}); s != (spread{Median: 3, Min: 1, Max: 5, Count: 3}) {
		t.Fatalf("spread of 5,1,3 = %+v", s)
	}
	if s := spreadOf([]float64{4, 1, 3, 10}); s.Median != 3.5 {
		t.Fatalf("median of 4,1,3,10 = %v, want 3.5", s.Median)
	}
	if _, ok := ratio(spreadOf(nil), spreadOf([]float64{1})); ok {
		t.Fatal("a ratio with a missing figure")
	}
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 4205.6: "4,206", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := formatCount(v); got != want {
			t.Errorf("formatCount(%v) = %q, want %q", v, got, want)
		}
	}
	if got := formatSpread(spreadOf([]float64{2, 1, 3}), formatCount); got != "2 (1..3)" {
		t.Fatalf("formatSpread = %q", got)
	}
}

func TestFsyncProbe(t *testing.T) {
	probe, err := measureFsync(t.TempDir(), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if probe.Writes == 0 || probe.PerSecond <= 0 || probe.P50Ms <= 0 || probe.P99Ms < probe.P50Ms {
		t.Fatalf("probe %+v", probe)
	}
}

// fakeResults has two systems, two rounds, each workload measured.
func fakeResults() *results {
	r := &results{Started: time.Unix(0, 0), Finished: time.Unix(90, 0), Rounds: 2, Duration: "10s", Warmup: "1s", Arguments: []string{"--rounds", "2"},
		Systems:     []system{{Name: "etcd", Version: "etcd 3.7.3"}, {Name: "lockstep", Version: "lockstep commit abc"}},
		FsyncBefore: fsyncProbe{Writes: 100, PerSecond: 2000, P50Ms: 0.4, P99Ms: 1},
		FsyncAfter:  fsyncProbe{Writes: 100, PerSecond: 2000, P50Ms: 0.6, P99Ms: 1},
	}
	for round := 1; round <= 2; round++ {
		for i, name := range []string{"etcd", "lockstep"} {
			speed := float64(1 + 5*i) // lockstep 6× faster
			r.Clusters = append(r.Clusters, clusterRecord{System: name, Round: round, Commands: []string{name + " --name member1"},
				PeakRSS: []int64{100 << 20, int64(200-100*i) << 20, 50 << 20}})
			for _, w := range workloads {
				result := &loadgen.Result{OperationsPerSecond: speed * 1000 * float64(round), ErrorsByKind: map[string]int64{},
					Latency: loadgen.LatencySummary{P50: 2 / speed, P99: 300 / speed, P999: 400 / speed}}
				if name == "etcd" && w.Name == "put-1-client" && round == 2 {
					result.Errors, result.ErrorsByKind["timeout"] = 3, 3
				}
				r.Runs = append(r.Runs, runRecord{System: name, Round: round, Workload: w.Name, Command: "lockstep bench " + w.Name, Result: result})
			}
		}
	}
	return r
}

func TestReportHasRatiosGoalsMemoryCommandsAndErrors(t *testing.T) {
	directory := t.TempDir()
	o := options{out: filepath.Join(directory, "docs", "BENCHMARKS.md"), plots: filepath.Join(directory, "docs", "benchmarks"), root: directory}
	var printed strings.Builder
	if err := fakeResults().write(o, &printed); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	report := string(content)
	for _, want := range []string{
		"`go -C bench/compare run . --rounds 2`", "[the method](benchmark-method.md)",
		"| | etcd | lockstep | lockstep/etcd |",
		"| throughput (ops/s) | 1,500 (1,000..2,000) | 9,000 (6,000..12,000) | 6.00 |",
		"| put, 1,000 clients: throughput ≥ 5× etcd's | 6.00× | yes |",
		"| put, 1 client: throughput ≥ 3× etcd's | 6.00× | yes |",
		"| put, 1,000 clients: p99 ≤ ⅓ of etcd's | 0.17× | yes |",
		"| put, 1 client: p50 ≤ 2× the raw fsync p50 | 333µs = 0.67× 500µs | yes |",
		"| peak RSS per member ≤ etcd's (largest member, median over rounds) | 100 MiB vs 200 MiB (0.50×) | yes |",
		"| etcd | 100 MiB (100 MiB..100 MiB) | 200 MiB (200 MiB..200 MiB) |",
		"etcd --name member1", "lockstep bench put-1-client",
		"- round 2, etcd, put-1-client: 3 × timeout",
		"![put, 1 client](benchmarks/put-1-client.svg)",
		"| raw fsync, before the rounds | 2,000 writes/s, p50 400µs, p99 1.00ms |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if !strings.Contains(printed.String(), "## Results") || strings.Contains(printed.String(), "## Commands") {
		t.Errorf("printed output should be the results section:\n%s", printed.String())
	}
	for _, name := range []string{"put-1000-clients.svg", "put-1-client.svg", "range-1000-clients.svg", "results.json"} {
		if _, err := os.Stat(filepath.Join(o.plots, name)); err != nil {
			t.Error(err)
		}
	}
}

// TestEtcdAloneEndToEnd runs the whole program briefly on etcd alone
// (about 15 s: a 3-member cluster, three short workloads).
func TestEtcdAloneEndToEnd(t *testing.T) {
	directory := t.TempDir()
	o, err := parseOptions([]string{"--systems", "etcd", "--rounds", "1", "--duration", "300ms", "--warmup", "0s", "--fsync", "100ms",
		"--out", filepath.Join(directory, "BENCHMARKS.md"), "--dir", directory}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var printed, log strings.Builder
	if err := run(context.Background(), o, &printed, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	report, err := os.ReadFile(filepath.Join(directory, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(report), "## Errors") || strings.Contains(string(report), "Incomplete") || !strings.Contains(string(report), "| etcd |") {
		t.Fatalf("report:\n%s\nlog:\n%s", report, log.String())
	}
	if runs := strings.Count(log.String(), "ops/s"); runs != len(workloads) {
		t.Fatalf("%d workloads ran, want %d:\n%s", runs, len(workloads), log.String())
	}
}
