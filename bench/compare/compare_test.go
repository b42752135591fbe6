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
	"github.com/lockstepdb/lockstep/loadgen/localcluster"
)

// TestMain lets the test binary serve the floor, as the compare binary
// does: the end-to-end tests start os.Executable() as `floor-server`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == floorCommand {
		os.Exit(floorMain(os.Args[2:], os.Stderr))
	}
	os.Exit(m.Run())
}

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
		{[]string{"--workloads", "put-1-client,scan"}, `--workloads: unknown workload "scan"`},
		{[]string{"--workloads", "put-1-client,put-1-client"}, "--workloads names put-1-client twice"},
		{[]string{"--workloads", "big-store"}, "more than --timeout 15m0s"},
		{[]string{"--workloads", "big-store", "--big-store-keys", "10"}, "big-store: --small-key-space 1000 must be between 1 and --key-space 10"},
		{[]string{"--quota-backend-bytes", "-1"}, "--quota-backend-bytes -1 must not be negative"},
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
	if planned := o.plannedDuration(); planned > 15*time.Minute || strings.Join(o.systems, ",") != "etcd,lockstep,floor" || o.rounds != 3 {
		t.Fatalf("defaults: systems %v, %d rounds, planned %v; want etcd, lockstep and floor, 3 rounds, within 15 minutes", o.systems, o.rounds, planned)
	}
	if got := strings.Join(o.workloads, ","); got != "put-1000-clients,put-1-client,range-1000-clients,watch-fanout" {
		t.Fatalf("default workloads %s; want issue 7's and watch-fanout, not big-store", got)
	}
	o, err = parseOptions([]string{"--workloads", "big-store", "--rounds", "1", "--timeout", "2h"}, io.Discard)
	if err != nil || o.bigStoreKeys != 4_000_000 || o.bigStoreValueSize != 1024 {
		t.Fatalf("full-size big-store: %v, %d keys of %d bytes", err, o.bigStoreKeys, o.bigStoreValueSize)
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

// fakeResults has three systems, two rounds, every workload measured:
// lockstep 6× etcd's throughput, the floor 10×, and CPU figures.
func fakeResults() *results {
	r := &results{Started: time.Unix(0, 0), Finished: time.Unix(90, 0), Rounds: 2, Duration: "10s", Warmup: "1s", Arguments: []string{"--rounds", "2"},
		Systems: []system{{Name: "etcd", Version: "etcd 3.7.3", Members: 3}, {Name: "lockstep", Version: "lockstep commit abc", Members: 3},
			{Name: "floor", Version: "floor", Members: 1}},
		FsyncBefore: fsyncProbe{Writes: 100, PerSecond: 2000, P50Ms: 0.4, P99Ms: 1},
		FsyncAfter:  fsyncProbe{Writes: 100, PerSecond: 2000, P50Ms: 0.6, P99Ms: 1},
		FsyncQuorum: fsyncProbe{Writes: 100, PerSecond: 1500, P50Ms: 0.5, P99Ms: 2}, FsyncWriters: 3,
		Workloads:    []string{"put-1000-clients", "put-1-client", "range-1000-clients", "watch-fanout", "big-store"},
		BigStoreKeys: 4_000_000, BigStoreValueSize: 1024,
	}
	for round := 1; round <= 2; round++ {
		for _, name := range []string{"etcd", "lockstep", "floor"} {
			speed := map[string]float64{"etcd": 1, "lockstep": 6, "floor": 10}[name]
			cluster := clusterRecord{System: name, Round: round, Commands: []string{name + " --name member1"},
				PeakRSS: []int64{100 << 20, int64(200/speed) << 20, 50 << 20}}
			cpu := &cpuUse{MemberSeconds: []float64{1 / speed, 4 / speed, 3 / speed}, Leader: 1, GeneratorSeconds: 2}
			if name == "floor" {
				cluster.PeakRSS = cluster.PeakRSS[:1]
				cpu = &cpuUse{MemberSeconds: []float64{0.5}, Leader: 0, GeneratorSeconds: 2}
			}
			for _, peak := range cluster.PeakRSS {
				cluster.Memory = append(cluster.Memory, localcluster.Memory{Peak: peak, Resident: peak / 2, Anonymous: peak * 3 / 8, File: peak / 8})
			}
			r.Clusters = append(r.Clusters, cluster)
			for i, section := range r.sections() {
				result := &loadgen.Result{OperationsPerSecond: speed * 1000 * float64(round), Operations: 1000, ErrorsByKind: map[string]int64{},
					Latency: loadgen.LatencySummary{P50: 2 / speed, P99: 300 / speed, P999: 400 / speed}}
				if section.fanout {
					result.Workload, result.EventsDelivered, result.EventsPerSecond = loadgen.WorkloadWatchFanout, 100_000, speed*10_000
				}
				if section.Name == "big-store-big-put" || section.Name == "big-store-big-range" {
					result.OperationsPerSecond *= 0.9
				}
				if section.Name == "big-store-big-range" {
					result.KeySpace, result.KeySize, result.ValueSize, result.PrefillSeconds = 4_000_000, 8, 1024, 400/speed
				}
				if name == "etcd" && section.Name == "put-1-client" && round == 2 {
					result.Errors, result.ErrorsByKind["timeout"] = 3, 3
				}
				// Each workload raises the first member's peak by 1 MiB.
				memory := []localcluster.Memory{{Peak: int64(i+1) << 20, Resident: 1 << 20, Anonymous: 1 << 19, File: 1 << 19}}
				r.Runs = append(r.Runs, runRecord{System: name, Round: round, Workload: section.Name, Command: "lockstep bench " + section.Name, Result: result, CPU: cpu, Memory: memory})
			}
		}
	}
	return r
}

func TestReportSplitsMemoryAndShowsItByWorkload(t *testing.T) {
	var b strings.Builder
	fakeResults().writeMemory(&b)
	report := b.String()
	for _, want := range []string{
		// etcd's largest member (the second) peaks at 200 MiB: half of it
		// resident, 3/8 anonymous, 1/8 file-backed.
		"| etcd | 200 MiB (200 MiB..200 MiB) | 100 MiB (100 MiB..100 MiB) | 75 MiB (75 MiB..75 MiB) | 25 MiB (25 MiB..25 MiB) |",
		"| lockstep | 100 MiB (100 MiB..100 MiB) |",
		"| workload | etcd | lockstep | floor |",
		// The sections run in order; big-store's four stages count once,
		// after its last (the 8th section).
		"| put-1000-clients | 1 MiB (1 MiB..1 MiB) | 1 MiB (1 MiB..1 MiB) | 1 MiB (1 MiB..1 MiB) |",
		"| watch-fanout | 4 MiB (4 MiB..4 MiB) |",
		"| big-store | 8 MiB (8 MiB..8 MiB) |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("memory section lacks %q:\n%s", want, report)
		}
	}
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
		"a fresh 3-member cluster of etcd, then a fresh 3-member cluster of lockstep, then the protocol floor (one process",
		"| | etcd | lockstep | floor | lockstep/etcd | lockstep/floor | etcd/floor |",
		"| throughput (ops/s) | 1,500 (1,000..2,000) | 9,000 (6,000..12,000) | 15,000 (10,000..20,000) | 6.00 | 0.60 | 0.10 |",
		"| errors | 2 (0..3) | 0 (0..0) | 0 (0..0) | — | — | — |",
		// CPU: the leader is member 2 (4 s / speed over 1,000 operations),
		// the followers' median of 1 and 3 (2 s / speed); the floor has no
		// followers.
		"| CPU per op: leader | 4.00ms (4.00ms..4.00ms) | 667µs (667µs..667µs) | 500µs (500µs..500µs) | 0.17 | 1.33 | 8.00 |",
		"| CPU per op: followers (median) | 2.00ms (2.00ms..2.00ms) | 333µs (333µs..333µs) | — | 0.17 | — | — |",
		"| CPU per op: load generator | 2.00ms (2.00ms..2.00ms) |",
		"| events delivered per second | 10,000 (10,000..10,000) | 60,000 (60,000..60,000) | 100,000 (100,000..100,000) | 6.00 | 0.60 | 0.10 |",
		"| CPU per event: leader | 40.0µs (40.0µs..40.0µs) |",
		"### big store: linearizable range on 4,000,000 keys of 1,024 bytes, 1,000 clients over 100 connections",
		"### big store: put on 1,000 keys of 1,024 bytes",
		"| put: big / small | 0.90 (0.90..0.90) | 0.90 (0.90..0.90) | 0.90 (0.90..0.90) |",
		"| prefill (keys/s) | 10,000 (10,000..10,000) | 60,000 (60,000..60,000) | 100,000 (100,000..100,000) |",
		"| put, 1,000 clients: throughput ≥ 5× etcd's | 6.00× | yes |",
		"| put, 1 client: throughput ≥ 3× etcd's | 6.00× | yes |",
		"| put, 1,000 clients: p99 ≤ ⅓ of etcd's | 0.17× | yes |",
		"| put, 1 client: p50 ≤ 2× the raw fsync p50 | 333µs = 0.67× 500µs | yes |",
		"| peak RSS per member ≤ etcd's (largest member, median over rounds) | 100 MiB vs 200 MiB (0.50×) | yes |",
		"## Goals of issue 15",
		"| put, 1,000 clients: throughput ≥ 2× etcd's | 6.00× | yes |",
		"| put, 1 client: p50 ≤ 0.5× etcd's | 0.17× | yes |",
		"| peak RSS of the largest member ≤ 0.75× etcd's | 100 MiB vs 200 MiB (0.50×) | yes |",
		"| watch fan-out: delivery p99 ≤ 0.5× etcd's | 0.17× | yes |",
		"| watch fan-out: events/s ≥ 2× etcd's | 6.00× | yes |",
		"| big store: put throughput within 20% of the small store's | 0.90× | yes |",
		"the floor's p50 200µs + one raw fsync p50 500µs = 700µs",
		"| etcd | 100 MiB (100 MiB..100 MiB) | 200 MiB (200 MiB..200 MiB) | 50 MiB (50 MiB..50 MiB) |",
		"| floor | 100 MiB (100 MiB..100 MiB) | — | — |",
		"etcd --name member1", "lockstep bench put-1-client",
		"- round 2, etcd, put-1-client: 3 × timeout",
		"![put, 1 client](benchmarks/put-1-client.svg)",
		"| raw fsync, before the rounds | 2,000 writes/s, p50 400µs, p99 1.00ms |",
		"| a replicated write: 3 writers at once until 2 are durable, before the rounds | 1,500 rounds/s, p50 500µs, p99 2.00ms |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if !strings.Contains(printed.String(), "## Results") || strings.Contains(printed.String(), "## Commands") {
		t.Errorf("printed output should be the results section:\n%s", printed.String())
	}
	for _, name := range []string{"put-1000-clients.svg", "put-1-client.svg", "range-1000-clients.svg", "watch-fanout.svg", "big-store-big-put.svg", "results.json"} {
		if _, err := os.Stat(filepath.Join(o.plots, name)); err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", report)
	}
}

// TestFloorAloneEndToEnd runs the whole program briefly on the floor
// alone, started as a process of its own (this test binary, see
// TestMain), with watch-fanout and a small big-store.
func TestFloorAloneEndToEnd(t *testing.T) {
	directory := t.TempDir()
	o, err := parseOptions([]string{"--systems", "floor", "--rounds", "1", "--duration", "1s", "--warmup", "200ms", "--fsync", "100ms",
		"--workloads", "put-1-client,watch-fanout,big-store", "--big-store-keys", "3000", "--big-store-value-size", "100",
		"--out", filepath.Join(directory, "BENCHMARKS.md"), "--dir", directory}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var printed, log strings.Builder
	if err := run(context.Background(), o, &printed, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	content, err := os.ReadFile(filepath.Join(directory, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	report := string(content)
	for _, want := range []string{
		"\ncompare floor-server --listen http://127.0.0.1:", "### big store: put on 3,000 keys of 100 bytes", "| range: big / small |",
		"| CPU per op: leader | ", "| CPU per event: load generator | ", "| floor | ", "| prefill (keys/s) | ",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(report, "## Errors") || strings.Contains(report, "Incomplete") {
		t.Errorf("errors or an incomplete run in the report")
	}
	// The command line that ran it names the directory (it was given so);
	// nothing after it does.
	if _, commands, _ := strings.Cut(report, "## Commands"); strings.Contains(commands, directory) {
		t.Errorf("the machine's paths in the commands")
	}
	// Six measured windows: put-1-client, watch-fanout, four stages (on
	// a busy machine, 1,000 clients may finish nothing in 1 s, so only
	// put-1-client is sure to have a CPU figure per operation).
	if runs := strings.Count(log.String(), "ops/s"); runs != 6 {
		t.Errorf("%d runs, want 6", runs)
	}
	if !strings.Contains(log.String(), "put-1-client") || !strings.Contains(log.String(), "leader CPU") {
		t.Errorf("no CPU figure for put-1-client")
	}
	if t.Failed() {
		t.Logf("report:\n%s\nlog:\n%s", report, log.String())
	}
}

// TestEtcdAloneEndToEnd runs the whole program briefly on etcd alone
// (about 15 s: a 3-member cluster, three short workloads).
func TestEtcdAloneEndToEnd(t *testing.T) {
	directory := t.TempDir()
	o, err := parseOptions([]string{"--systems", "etcd", "--rounds", "1", "--duration", "300ms", "--warmup", "0s", "--fsync", "100ms",
		"--workloads", "put-1000-clients,put-1-client,range-1000-clients",
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
	if runs := strings.Count(log.String(), "ops/s"); runs != len(o.workloads) {
		t.Fatalf("%d workloads ran, want %d:\n%s", runs, len(o.workloads), log.String())
	}
}
