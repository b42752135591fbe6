package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/lockstepdb/lockstep/sim"
	"github.com/lockstepdb/lockstep/sim/stack"
	"github.com/spf13/cobra"
)

func newSimCommand() *cobra.Command {
	var (
		seeds     int
		seed      uint64
		firstSeed uint64
		steps     int
		nodes     int
		faults    string
		trace     bool
		workers   int
		liveness  int
		verbose   bool
		histories string
		stackMode bool
		async     bool
		tick      time.Duration
	)
	command := &cobra.Command{
		Use:   "sim",
		Short: "Run whole clusters of the Raft core under faults, from seeds, checking safety after every step",
		Long: `sim runs simulated clusters in one process. Each seed fixes every random
choice — message loss, duplication, reordering and delay, partitions,
crashes that lose unsynced writes, torn writes, clock skew — so a failing
seed replays exactly. Snapshots, membership changes and leadership
transfers happen at random too, and the client issues linearizable reads
on leaders and followers. After every step it checks election safety,
leader append-only, log matching, leader completeness, state machine
safety, validity and integrity; after the faulty phase it heals everything
and requires a new command to commit on every node within a bounded time;
finally the client history is checked for linearizability (porcupine).

With --stack it runs the whole stack instead of the core alone: real
node.Node runtimes (loop, WAL, snapshots) on an in-memory network with
latency, loss, duplication, delay and partitions, each on an in-memory disk
that crashes (losing or tearing unsynced writes) or fails an fsync, under a
seeded schedule of crashes, restarts, partitions, leadership transfers and
membership changes, with clients proposing and reading on every node. The
runtime reads the real clock, so this mode runs in real time with short
ticks (--tick); go test runs the same schedule in virtual time
(testing/synctest). --steps is then the number of scheduled events
(default 40); --faults does not apply.`,
		Example: `  lockstep sim --seeds 2000 --steps 3000
  lockstep sim --seeds 500 --nodes 5 --faults crash,partition
  lockstep sim --seed 42 --trace
  lockstep sim --seeds 5000 --async
  lockstep sim --stack --seeds 500 --nodes 5
  lockstep sim --stack --seed 17 --trace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stackMode {
				if cmd.Flags().Changed("faults") {
					return fmt.Errorf("--faults does not apply to --stack: the whole-stack schedule injects every fault")
				}
				if nodes < 1 || nodes > 7 || tick < time.Millisecond {
					return fmt.Errorf("--stack needs --nodes between 1 and 7 (got %d) and --tick of at least 1ms (got %v)", nodes, tick)
				}
				if !cmd.Flags().Changed("steps") {
					steps = 40
				}
				if !cmd.Flags().Changed("liveness-ticks") {
					liveness = 2000 // real time: room for a loaded machine
				}
			}
			faultList, err := sim.ParseFaults(faults)
			if err != nil {
				return err
			}
			if nodes < 1 || nodes > 9 {
				return fmt.Errorf("--nodes %d must be between 1 and 9", nodes)
			}
			if steps < 0 {
				return fmt.Errorf("--steps %d must not be negative", steps)
			}
			options := sim.Options{Nodes: nodes, Steps: steps, Faults: faultList, LivenessTicks: liveness, HistoryDirectory: histories,
				AsyncPersistence: async}
			out := cmd.OutOrStdout()
			if cmd.Flags().Changed("seed") {
				firstSeed, seeds = seed, 1
			}
			if seeds < 1 {
				return fmt.Errorf("--seeds %d must be at least 1", seeds)
			}
			if trace {
				if seeds != 1 {
					return fmt.Errorf("--trace needs a single --seed")
				}
				options.Trace = func(line string) { fmt.Fprintln(out, line) }
			}
			if stackMode {
				stackOptions := stack.Options{Nodes: nodes, Operations: steps, TickInterval: tick, LivenessTicks: liveness,
					Trace: options.Trace, HistoryDirectory: histories}
				return runStackSimulations(out, stackOptions, firstSeed, seeds, workers, verbose)
			}
			return runSimulations(out, options, firstSeed, seeds, workers, verbose)
		},
	}
	flags := command.Flags()
	flags.IntVar(&seeds, "seeds", 100, "number of seeds to run")
	flags.Uint64Var(&firstSeed, "first-seed", 1, "first seed of the range")
	flags.Uint64Var(&seed, "seed", 0, "run this one seed (implies --seeds 1)")
	flags.IntVar(&steps, "steps", 3000, "scheduler events per seed in the faulty phase")
	flags.IntVar(&nodes, "nodes", 3, "cluster size (runs with the member fault also have 2 spare nodes that may be added)")
	flags.StringVar(&faults, "faults", "all", "faults to inject: all, none, or a list of "+fmt.Sprint(sim.AllFaults))
	flags.BoolVar(&trace, "trace", false, "print a readable history of the run (single seed)")
	flags.IntVar(&workers, "workers", runtime.GOMAXPROCS(0), "seeds run in parallel")
	flags.IntVar(&liveness, "liveness-ticks", 100, "ticks allowed after healing for a new command to commit everywhere")
	flags.BoolVar(&verbose, "verbose", false, "print a line per seed")
	flags.BoolVar(&async, "async", false, "run the cores with asynchronous persistence (writes complete after the Ready is taken; raft.Config.AsyncPersistence)")
	flags.BoolVar(&stackMode, "stack", false, "run the whole stack (node runtimes, WAL, snapshots) on an in-memory network and disks, in real time")
	flags.DurationVar(&tick, "tick", time.Millisecond, "with --stack: the nodes' tick, and the schedule's unit of time")
	flags.StringVar(&histories, "history-dir", "", "directory for the HTML picture of any non-linearizable history (default: the system's temporary directory)")
	return command
}

func runSimulations(out io.Writer, options sim.Options, first uint64, count, workers int, verbose bool) error {
	violations, nonLinearizable := 0, 0
	sim.RunSeeds(first, count, workers, options.RunSeed, func(result sim.Result) {
		if verbose {
			fmt.Fprintf(out, "seed %d: %d steps, %d proposed, %d acknowledged, %d reads, %d applied, max term %d, %d messages (%d dropped), healed in %d ticks\n",
				result.Seed, result.Steps, result.Proposed, result.Acknowledged, result.Reads, result.Applied, result.MaxTerm, result.Messages, result.Dropped, result.HealTicks)
		}
		if result.Violation != nil {
			violations++
			fmt.Fprintf(out, "seed %d: VIOLATION %s\n  replay: %s\n", result.Seed, result.Violation, runnable(sim.ReplayCommand(options, result.Seed)))
		}
		if !result.Linearizable {
			nonLinearizable++
			fmt.Fprintf(out, "seed %d: history NOT LINEARIZABLE, see %s\n  replay: %s\n", result.Seed, result.HistoryFile, runnable(sim.ReplayCommand(options, result.Seed)))
		}
	})
	fmt.Fprintf(out, "sim: %d seeds x %d steps, %d violations, %d non-linearizable histories\n", count, options.Steps, violations, nonLinearizable)
	if violations > 0 || nonLinearizable > 0 {
		return &exitError{code: 1, message: fmt.Sprintf("%d of %d seeds violated a property, %d histories are not linearizable", violations, count, nonLinearizable)}
	}
	return nil
}

// runStackSimulations runs whole-stack seeds and prints one line per
// failing seed, with the command that replays it, then one summary line.
func runStackSimulations(out io.Writer, options stack.Options, first uint64, count, workers int, verbose bool) error {
	violations, nonLinearizable, durable := 0, 0, 0
	sim.RunSeeds(first, count, workers, options.RunSeed, func(result stack.Result) {
		if verbose {
			fmt.Fprintln(out, result)
		}
		if result.DurableMachines {
			durable++
		}
		replay := runnable(fmt.Sprintf("lockstep sim --stack --seed %d --nodes %d --steps %d --tick %v --liveness-ticks %d --trace",
			result.Seed, options.Nodes, options.Operations, options.TickInterval, options.LivenessTicks))
		if result.Violation != nil {
			violations++
			fmt.Fprintf(out, "seed %d: VIOLATION %s\n  replay: %s\n", result.Seed, result.Violation, replay)
		}
		if !result.Linearizable {
			nonLinearizable++
			fmt.Fprintf(out, "seed %d: history NOT LINEARIZABLE, see %s\n  replay: %s\n", result.Seed, result.HistoryFile, replay)
		}
		if len(result.RecentTrace) > 0 {
			// Real time does not replay exactly: show what led there.
			fmt.Fprintf(out, "  the last %d lines of seed %d's trace:\n", len(result.RecentTrace), result.Seed)
			for _, line := range result.RecentTrace {
				fmt.Fprintf(out, "    %s\n", line)
			}
		}
	})
	fmt.Fprintf(out, "sim --stack: %d seeds x %d operations (%d nodes, tick %v; %d with durable state machines), %d violations, %d non-linearizable histories\n",
		count, options.Operations, options.Nodes, options.TickInterval, durable, violations, nonLinearizable)
	if violations > 0 || nonLinearizable > 0 {
		return &exitError{code: 1, message: fmt.Sprintf("%d of %d seeds violated a property, %d histories are not linearizable", violations, count, nonLinearizable)}
	}
	return nil
}
