package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/loadgen"
)

// reachResults is one round of put-1000-clients and put-1-client with the
// figures of a real run on 2 cores (docs/BENCHMARKS.md at 5e3991a).
func reachResults() *results {
	r := &results{Machine: machine{Cores: 2}, Rounds: 1, Workloads: []string{"put-1000-clients", "put-1-client"},
		FsyncBefore: fsyncProbe{Writes: 100, P50Ms: 0.180}, FsyncConcurrent: fsyncProbe{Writes: 300, P50Ms: 0.300}, FsyncWriters: 3,
		FsyncQuorum: fsyncProbe{Writes: 100, P50Ms: 0.350},
		Wake:        wakeProbe{Wakes: 100, P50Us: 50}}
	type figures struct {
		rate, p50ms float64
		members     []float64 // CPU seconds over 10,000 operations
		generator   float64
		switches    float64 // context switches per operation of each member
	}
	for _, each := range []struct {
		name    string
		put1000 figures
		put1    figures
	}{
		{"etcd", figures{8717, 111, []float64{0.976, 0.320, 0.320}, 0.574, 0}, figures{526, 1.64, []float64{1, 1, 1}, 1, 18}},
		{"lockstep", figures{9383, 98.8, []float64{0.320, 0.889, 0.270}, 0.554, 0}, figures{551, 1.60, []float64{1, 1, 1}, 1, 20}},
		{"floor", figures{22558, 39.2, []float64{0.395}, 0.461, 0}, figures{4694, 0.184, []float64{1}, 1, 0}},
	} {
		r.Systems = append(r.Systems, system{Name: each.name, Members: len(each.put1000.members)})
		for workload, f := range map[string]figures{"put-1000-clients": each.put1000, "put-1-client": each.put1} {
			leader := 0
			if each.name == "lockstep" {
				leader = 1
			}
			r.Runs = append(r.Runs, runRecord{System: each.name, Round: 1, Workload: workload,
				Result: &loadgen.Result{OperationsPerSecond: f.rate, Operations: 10_000, Latency: loadgen.LatencySummary{P50: f.p50ms}},
				CPU:    &cpuUse{MemberSeconds: f.members, Leader: leader, GeneratorSeconds: f.generator, MemberSwitches: switchesOf(f)}})
		}
	}
	return r
}

// switchesOf is a run's context switches per member, from its figures'
// per-operation count over the run's 10,000 operations (0 for the
// put-1000 figures, which give none).
func switchesOf(f struct {
	rate, p50ms float64
	members     []float64
	generator   float64
	switches    float64
}) []float64 {
	counts := make([]float64, len(f.members))
	for i := range counts {
		counts[i] = f.switches * 10_000
	}
	return counts
}

func TestReachShowsTheCPUBudgetOfEachGoal(t *testing.T) {
	var b strings.Builder
	reachResults().writeReach(&b)
	report := b.String()
	for _, want := range []string{
		"## What this machine allows",
		// 2 cores ÷ 17,434 ops/s = 114.7 µs for every process; the load
		// generator's 55.4 leaves 59.3 for the members; the floor's 39.5
		// leaves 19.8, against lockstep's 147.9 − 39.5 = 108.4 now.
		"| put, 1,000 clients: 2× etcd's throughput | 17,434/s | 115µs | 55.4µs | 59.3µs | 39.5µs | 148µs | 162µs |",
		"19.8µs per op left beyond the floor's work for consensus, storage and two followers; lockstep's members spend 108µs beyond it now (82% of it would have to go)",
		// half of 1.64 ms against 0.184 + 0.350 + 0.050 ms (the leader's
		// wake only: the replicated write's probe holds the follower's
		// late start), leaving 236 µs.
		"the goal, half etcd's p50, is 820µs; the physical path, the floor's p50 184µs + a write on 3 logs at once until 2 are durable (when the entry commits), 350µs",
		"+ one thread wake, 50.0µs (the leader's process wakes when the acknowledgement arrives",
		"is at least 584µs: within the physical path's reach; 236µs is left for the peer round trip",
		// 20 switches per op over 10,000 ops on each follower, 50 µs a wake.
		"A thread wake takes 50 µs at the median on this machine, and each of lockstep's followers switches threads 20.0 times per put (etcd's 18.0): 1.00ms of wakes per put",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the reach section lacks %q:\n%s", want, report)
		}
	}
}

func TestReachSetsFanoutLatencyBesideTheFloor(t *testing.T) {
	r := &results{Machine: machine{Cores: 2}, Rounds: 1, Workloads: []string{"watch-fanout"}}
	for name, p99 := range map[string]float64{"etcd": 77.9, "lockstep": 58.3, "floor": 60.4} {
		r.Systems = append(r.Systems, system{Name: name, Members: 1})
		r.Runs = append(r.Runs, runRecord{System: name, Round: 1, Workload: "watch-fanout",
			Result: &loadgen.Result{Workload: loadgen.WorkloadWatchFanout, EventsPerSecond: 1000, EventsDelivered: 1000, Latency: loadgen.LatencySummary{P99: p99}},
			CPU:    &cpuUse{MemberSeconds: []float64{1}, Leader: 0, GeneratorSeconds: 1}})
	}
	var b strings.Builder
	r.writeReach(&b)
	want := "Watch fan-out: the goal, half etcd's delivery p99, is 39.0ms; the floor's delivery p99 is 60.4ms: below the floor's own: out of reach."
	if !strings.Contains(b.String(), want) {
		t.Errorf("the reach section lacks %q:\n%s", want, b.String())
	}
}

func TestReachVerdicts(t *testing.T) {
	for _, c := range []struct {
		target, floorRate, members, floorServer, lockstepNow float64
		want                                                 string
	}{
		{30_000, 22_000, 10, 40, 140, "out of reach: above the floor's own 22,000/s"},
		{17_000, 22_000, 35, 40, 140, "out of reach: the floor alone spends 40.0µs per op"},
		{17_000, 22_000, 150, 40, 140, "within reach by CPU"},
		{17_000, 22_000, 60, 40, 140, "20.0µs per op left beyond the floor's work"},
	} {
		if got := reachVerdict(c.target, c.floorRate, c.members, c.floorServer, c.lockstepNow, "op"); !strings.Contains(got, c.want) {
			t.Errorf("reachVerdict(%v) = %q, want it to contain %q", c, got, c.want)
		}
	}
}

func TestReachNeedsTheFloorAndBothSystems(t *testing.T) {
	r := reachResults()
	r.Systems = r.Systems[:2] // no floor
	var b strings.Builder
	r.writeReach(&b)
	if b.Len() != 0 {
		t.Errorf("without the floor there is no budget to show, got:\n%s", b.String())
	}
}

func TestReportFromAnEarlierRunsResults(t *testing.T) {
	directory := t.TempDir()
	o := options{out: filepath.Join(directory, "docs", "BENCHMARKS.md"), plots: filepath.Join(directory, "docs", "benchmarks"), root: directory}
	if err := fakeResults().write(o, io.Discard); err != nil {
		t.Fatal(err)
	}
	earlier, err := readResults(filepath.Join(o.plots, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	again := o
	again.out = filepath.Join(directory, "docs", "AGAIN.md")
	if err := earlier.write(again, io.Discard); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(o.out)
	second, _ := os.ReadFile(again.out)
	const note = "This report was written again from that run's results.json"
	if !strings.Contains(string(second), note) || strings.Contains(string(first), note) {
		t.Fatalf("only the rewritten report should say so")
	}
	if strings.Replace(string(second), note, "", 1) == string(first) {
		return // the same figures, sections and all
	}
	for _, want := range []string{"| put, 1,000 clients: throughput ≥ 2× etcd's | 6.00× | yes |", "## Goals of issue 15"} {
		if !strings.Contains(string(second), want) {
			t.Errorf("the rewritten report lacks %q", want)
		}
	}
	if _, err := readResults(filepath.Join(directory, "missing.json")); err == nil {
		t.Error("a missing results.json was read")
	}
	if err := os.WriteFile(filepath.Join(directory, "bad.json"), []byte(`{"systems": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readResults(filepath.Join(directory, "bad.json")); err == nil || !strings.Contains(err.Error(), "no systems or runs") {
		t.Errorf("an empty results.json: %v", err)
	}
}

// Results written before the replicated write's probe use one write
// among the members' concurrent ones, and add both wakes.
func TestReachOfOlderResultsUsesTheConcurrentFsync(t *testing.T) {
	r := reachResults()
	r.FsyncQuorum = fsyncProbe{}
	var b strings.Builder
	r.writeReach(&b)
	for _, want := range []string{
		"the floor's p50 184µs + one fsync with 3 writers at once, 300µs",
		"+ two thread wakes, 50.0µs each",
		"is at least 584µs: within the physical path's reach; 236µs is left", // 0.184 + 0.300 + 2 × 0.050
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the reach section lacks %q:\n%s", want, b.String())
		}
	}
}

// Results written before the concurrent probe fall back to the single
// writer's fsync.
func TestReachOfOlderResultsUsesTheRawFsync(t *testing.T) {
	r := reachResults()
	r.FsyncQuorum, r.FsyncConcurrent, r.FsyncWriters, r.Wake = fsyncProbe{}, fsyncProbe{}, 0, wakeProbe{}
	var b strings.Builder
	r.writeReach(&b)
	if want := "the floor's p50 184µs + one raw fsync, 180µs"; !strings.Contains(b.String(), want) {
		t.Errorf("the reach section lacks %q:\n%s", want, b.String())
	}
	if strings.Contains(b.String(), "thread wake") {
		t.Errorf("the reach section speaks of wakes it did not measure:\n%s", b.String())
	}
}

// A goal below the floor, the shared disk's fsync and the two wakes every
// replicated put adds is called out of reach.
func TestPutLatencyGoalBelowThePhysicalPathIsOutOfReach(t *testing.T) {
	r := reachResults()
	r.Wake = wakeProbe{Wakes: 100, P50Us: 350} // 0.184 + 0.350 + 0.350 = 0.884 ms, above half of 1.64
	var b strings.Builder
	r.writeReach(&b)
	if want := "is at least 884µs: below the physical path: out of reach on this machine."; !strings.Contains(b.String(), want) {
		t.Errorf("the reach section lacks %q:\n%s", want, b.String())
	}
}
