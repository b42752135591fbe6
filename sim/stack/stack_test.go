package stack

import (
	"flag"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
)

var seeds = flag.Int("seeds", 12, "seeds per cluster size in TestSeeds (each runs a 3- and a 5-node cluster)")

var busySeeds = flag.Int("busy-seeds", 16, "seeds per cluster size in TestSeedsUnderABusierLoad")

// runInBubble runs one seed in a synctest bubble, collecting its trace.
func runInBubble(t *testing.T, options Options) (Result, string) {
	t.Helper()
	var (
		mu    sync.Mutex
		trace []string
	)
	options.Trace = func(line string) {
		mu.Lock()
		defer mu.Unlock()
		trace = append(trace, line)
	}
	if options.HistoryDirectory == "" {
		options.HistoryDirectory = t.TempDir()
	}
	var result Result
	synctest.Test(t, func(t *testing.T) { result = Run(options) })
	mu.Lock()
	defer mu.Unlock()
	return result, strings.Join(trace, "\n")
}

// TestSeeds runs seeds 1..-seeds on 3- and 5-node clusters; any broken
// property fails the test with the run's trace. More seeds:
// go test ./sim/stack -run TestSeeds -seeds 500 (or lockstep sim --stack).
func TestSeeds(t *testing.T) {
	var total Result
	durableRuns := 0
	for seed := uint64(1); seed <= uint64(*seeds); seed++ {
		for _, nodes := range []int{3, 5} {
			result, trace := runInBubble(t, Options{Seed: seed, Nodes: nodes})
			if result.Failed() {
				t.Fatalf("%s\nviolation: %v; linearizable: %v %s\ntrace:\n%s", result, result.Violation, result.Linearizable, result.HistoryFile, trace)
			}
			total.Acknowledged += result.Acknowledged
			total.Reads += result.Reads
			total.Crashes += result.Crashes
			total.DiskFaults += result.DiskFaults
			total.ProcessRestarts += result.ProcessRestarts
			total.Partitions += result.Partitions
			total.Transfers += result.Transfers
			total.Removed += result.Removed
			total.Added += result.Added
			total.Promoted += result.Promoted
			total.Restores += result.Restores
			total.Loads += result.Loads
			if result.DurableMachines {
				durableRuns++
			}
		}
	}
	// The runs must have exercised what they claim to.
	t.Logf("%d runs (%d with durable state machines): %d acknowledged, %d reads, %d crashes (%d disk faults, %d processes restarted before the power failed), %d partitions, %d transfers, %d removed, %d added, %d promoted, %d snapshot restores, %d durable machine loads",
		2**seeds, durableRuns, total.Acknowledged, total.Reads, total.Crashes, total.DiskFaults, total.ProcessRestarts, total.Partitions, total.Transfers, total.Removed, total.Added, total.Promoted, total.Restores, total.Loads)
	for name, count := range map[string]int{"acknowledged": total.Acknowledged, "reads": total.Reads, "crashes": total.Crashes, "disk faults": total.DiskFaults,
		"process restarts": total.ProcessRestarts,
		"partitions":       total.Partitions, "transfers": total.Transfers, "removals": total.Removed, "additions": total.Added, "promotions": total.Promoted, "snapshot restores": total.Restores,
		"runs with durable state machines": durableRuns, "durable machine loads": total.Loads} {
		if count == 0 {
			t.Errorf("no %s in %d runs", name, 2**seeds)
		}
	}
}

// TestLostDiskIsCaught breaks the durability the runtime relies on — a
// crashed node comes back with an empty disk — and expects the checks to
// notice within a few seeds (in practice, most seeds fail).
func TestLostDiskIsCaught(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		result, _ := runInBubble(t, Options{Seed: seed, Nodes: 3, loseDiskOnCrash: true})
		if result.Failed() {
			t.Logf("seed %d: %v (linearizable: %v)", seed, result.Violation, result.Linearizable)
			return
		}
	}
	t.Fatal("8 runs whose nodes lose their disks when they crash broke no property")
}

// TestFailedRunKeepsItsRecentTrace: without Options.Trace, a failed run
// still says what led to its failure, since real time does not replay.
func TestFailedRunKeepsItsRecentTrace(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		options := Options{Seed: seed, Nodes: 3, loseDiskOnCrash: true, HistoryDirectory: t.TempDir()}
		var result Result
		synctest.Test(t, func(t *testing.T) { result = Run(options) })
		if !result.Failed() {
			if result.RecentTrace != nil {
				t.Errorf("seed %d passed but kept %d trace lines", seed, len(result.RecentTrace))
			}
			continue
		}
		if len(result.RecentTrace) == 0 || len(result.RecentTrace) > 200 {
			t.Fatalf("seed %d failed and kept %d trace lines, want 1 to 200", seed, len(result.RecentTrace))
		}
		return
	}
	t.Fatal("no run failed")
}

func TestBadOptionsAreRefused(t *testing.T) {
	for _, options := range []Options{{Nodes: 0}, {Nodes: 8}, {Nodes: 3, Operations: -1}, {Nodes: 3, TickInterval: 1}} {
		if result := Run(options); result.Violation == nil || result.Violation.Rule != "options" {
			t.Errorf("%+v: %v", options, result.Violation)
		}
	}
}

// TestRegressionSeeds replays, five times each (the runtime's goroutines
// make a seed's run vary), seeds that once broke a rule, with the options
// they broke it under. Before their fixes each failed in a fifth to three
// quarters of its runs.
func TestRegressionSeeds(t *testing.T) {
	for _, c := range []struct {
		options Options
		what    string
	}{
		{Options{Seed: 99, Nodes: 3}, "a restarted leader whose durable machine was ahead of its commit record could give no image (node.Config: raft.Config.Committed)"},
		{Options{Seed: 426, Nodes: 5}, "an image labelled below what the durable machine held (maybeSnapshot)"},
		{Options{Seed: 107, Nodes: 5}, "a member whose power failed before the heal was never restarted (restartStopped)"},
		{Options{Seed: 1516, Nodes: 3, Operations: 150, Clients: 6}, "a restarted process built on writes never synced (wal.Open)"},
	} {
		for range 5 {
			result, trace := runInBubble(t, c.options)
			if result.Failed() {
				t.Fatalf("%s (%s)\nviolation: %v; linearizable: %v %s\ntrace:\n%s", result, c.what, result.Violation, result.Linearizable, result.HistoryFile, trace)
			}
		}
	}
}

// TestSeedsUnderABusierLoad runs seeds 1..-busy-seeds on 3- and 5-node
// clusters with more operations and clients than TestSeeds: a sweep at
// this load (150 operations, 6 clients) found two storage bugs the
// default load had not (a restarted process building on writes never
// synced; a batch larger than a segment failing the log on a full disk).
// More: go test ./sim/stack -run TestSeedsUnderABusierLoad -busy-seeds 1500.
func TestSeedsUnderABusierLoad(t *testing.T) {
	for seed := uint64(1); seed <= uint64(*busySeeds); seed++ {
		for _, nodes := range []int{3, 5} {
			result, trace := runInBubble(t, Options{Seed: seed, Nodes: nodes, Operations: 150, Clients: 6})
			if result.Failed() {
				t.Fatalf("%s\nviolation: %v; linearizable: %v %s\ntrace:\n%s", result, result.Violation, result.Linearizable, result.HistoryFile, trace)
			}
		}
	}
}
