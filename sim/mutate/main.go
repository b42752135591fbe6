//go:build mutation

package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/sim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(2)
	}
}

// run parses the flags, hunts each chosen mutation and prints a markdown
// table. It returns an error for bad flags; a mutation that was not caught
// is reported in the table and makes the process exit with status 1.
func run(arguments []string, out io.Writer) error {
	flags := flag.NewFlagSet("mutate", flag.ContinueOnError)
	var (
		names     = flags.String("mutations", "all", "comma-separated mutations to hunt, or all; -list prints them")
		list      = flags.Bool("list", false, "print the mutations and exit")
		seeds     = flags.Int("seeds", 2000, "seeds to try per mutation")
		firstSeed = flags.Uint64("first-seed", 1, "first seed of the range")
		seed      = flags.Uint64("seed", 0, "run this one seed (with -trace, to see how a mutation is caught)")
		steps     = flags.Int("steps", 3000, "scheduler events per seed in the faulty phase")
		nodes     = flags.Int("nodes", 3, "cluster size")
		async     = flags.Bool("async", false, "run the cores with asynchronous persistence")
		trace     = flags.Bool("trace", false, "print the run's history (one -seed, one mutation)")
		workers   = flags.Int("workers", runtime.GOMAXPROCS(0), "seeds run in parallel")
	)
	if err := flags.Parse(arguments); err != nil {
		return err
	}
	if *list {
		for _, mutation := range raft.Mutations() {
			fmt.Fprintf(out, "%-28s %s\n", mutation.Name, mutation.Description)
		}
		return nil
	}
	chosen, err := chooseMutations(*names)
	if err != nil {
		return err
	}
	if *seeds < 1 {
		return fmt.Errorf("-seeds %d must be at least 1", *seeds)
	}
	options := sim.Options{Nodes: *nodes, Steps: *steps, Faults: sim.AllFaults, AsyncPersistence: *async, HistoryDirectory: os.TempDir()}
	if *seed != 0 {
		*firstSeed, *seeds = *seed, 1
	}
	if *trace {
		if *seeds != 1 || len(chosen) != 1 {
			return fmt.Errorf("-trace needs one -seed and one mutation")
		}
		options.Trace = func(line string) { fmt.Fprintln(out, line) }
	}
	mode := "synchronous persistence"
	if *async {
		mode = "asynchronous persistence"
	}
	fmt.Fprintf(out, "%d mutations, seeds %d-%d x %d steps, %d nodes, every fault, %s\n\n",
		len(chosen), *firstSeed, *firstSeed+uint64(*seeds)-1, *steps, *nodes, mode)
	fmt.Fprintln(out, "| mutation | seeds to first catch | caught by |")
	fmt.Fprintln(out, "|---|---|---|")
	uncaught := 0
	started := time.Now()
	for _, mutation := range chosen {
		found := hunt(mutation, options, *firstSeed, *seeds, *workers)
		if found.caught() {
			fmt.Fprintf(out, "| %s | %d (seed %d) | %s |\n", mutation.Name, found.seedsRun, found.seed, found.check)
		} else {
			uncaught++
			fmt.Fprintf(out, "| %s | not caught in %d | - |\n", mutation.Name, found.seedsRun)
		}
		if *trace {
			fmt.Fprintln(out, found.detail)
		}
	}
	fmt.Fprintf(out, "\nmutate: %d of %d mutations caught in %v\n", len(chosen)-uncaught, len(chosen), time.Since(started).Round(time.Second))
	if uncaught > 0 {
		os.Exit(1)
	}
	return nil
}

// chooseMutations resolves -mutations against raft.Mutations.
func chooseMutations(names string) ([]raft.MutationInfo, error) {
	all := raft.Mutations()
	if names == "all" {
		return all, nil
	}
	var chosen []raft.MutationInfo
	for _, name := range strings.Split(names, ",") {
		name = strings.TrimSpace(name)
		index := slices.IndexFunc(all, func(m raft.MutationInfo) bool { return m.Name == name })
		if index < 0 {
			return nil, fmt.Errorf("unknown mutation %q (go run -tags mutation ./sim/mutate -list)", name)
		}
		chosen = append(chosen, all[index])
	}
	return chosen, nil
}
