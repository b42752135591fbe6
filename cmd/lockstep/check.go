package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lockstepdb/lockstep/check"
	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/fault"
)

func init() { register(newCheckCommand) }

// checkFlags are `lockstep check`'s flags.
type checkFlags struct {
	system, binary, endpoints, faults string
	members, clients, keys            int
	snapshotCount, diskMebibytes      int
	seed                              int64
	duration                          time.Duration
	operationTimeout, checkTimeout    time.Duration
	outputDirectory, workDirectory    string
	quiet, serializableReads          bool
}

// allFaults is the default --faults for a cluster the checker starts.
var allFaults = func() string {
	var names []string
	for _, kind := range fault.Kinds {
		names = append(names, string(kind))
	}
	return strings.Join(names, ",")
}()

func newCheckCommand() *cobra.Command {
	flags := &checkFlags{}
	command := &cobra.Command{
		Use:   "check",
		Short: "Run a real cluster under faults and prove the clients' history linearizable",
		Long: `check starts a cluster of real processes on 127.0.0.1 (lockstep serve, or etcd
for comparison), each behind a fault-injecting proxy on its peer port, runs
concurrent clients doing gets, puts and compare-and-swaps on a small key
space, and injects faults from a schedule chosen by --seed: kill -9 and
restart, SIGSTOP pauses longer than the election timeout, partitions
(majority/minority, isolated leader, bridge, one way), member removal and
re-addition, leadership transfer, whole-cluster restart, and a full disk
(lockstep members only, as root: each member's data directory is then a
tmpfs of its own, which the fault fills; without root the default leaves
it out and says so). After healing it
checks that every member converged to the same revision and HashKV, that no
acknowledged write is missing, that a watch opened at the start delivered
every revision once and in order, and that the history is linearizable
(porcupine). A failure writes the operation log, the faults, the watch
stream, porcupine's HTML picture and the member logs into --out-dir.
It ends with one line: check: <ops> ops, <faults> faults (<kind> <count>, ...), <result>.`,
		Example: `  lockstep check --system etcd --duration 30s --faults kill,pause
  lockstep check --members 5 --duration 10m --faults kill,pause,partition,member,transfer
  lockstep check --endpoints http://127.0.0.1:2379 --duration 1m --faults transfer`,
		Args: cobra.NoArgs,
		RunE: func(command *cobra.Command, _ []string) error {
			config, err := flags.config(command)
			if err != nil {
				return &exitError{code: 2, message: err.Error()}
			}
			ctx, stop := signal.NotifyContext(command.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runCheck(ctx, command.OutOrStdout(), command.ErrOrStderr(), config)
		},
	}
	f := command.Flags()
	f.StringVar(&flags.system, "system", string(cluster.Lockstep), "server to start: lockstep or etcd")
	f.StringVar(&flags.binary, "binary", "", "server executable (default: this executable for lockstep, the built etcd v3.7.3 for etcd)")
	f.IntVar(&flags.members, "members", check.DefaultMembers, "cluster size")
	f.StringVar(&flags.endpoints, "endpoints", "", "comma-separated client URLs of a running cluster to check instead of starting one (faults: transfer only)")
	f.DurationVar(&flags.duration, "duration", check.DefaultDuration, "how long clients run under faults")
	f.StringVar(&flags.faults, "faults", allFaults, "faults to inject, comma-separated, or none: "+allFaults+
		" (by default those this machine allows: diskfull needs root and --system lockstep)")
	f.Int64Var(&flags.seed, "seed", 0, "seed of the fault schedule and the clients' choices (default: random, printed)")
	f.IntVar(&flags.clients, "clients", check.DefaultClients, "concurrent clients")
	f.IntVar(&flags.keys, "keys", check.DefaultKeys, "number of keys the clients share")
	f.IntVar(&flags.snapshotCount, "snapshot-count", check.DefaultSnapshotCount,
		"lockstep members snapshot every this many entries (low, so that lagging members catch up by snapshot transfers); 0 keeps the server's default")
	f.IntVar(&flags.diskMebibytes, "disk-size-mib", 0,
		"size in MiB of the tmpfs each member's data directory is mounted on for the diskfull fault (0: 32 + 8 per minute of --duration)")
	f.DurationVar(&flags.operationTimeout, "op-timeout", check.DefaultOperationTimeout, "timeout of one client operation (a write that times out is ambiguous)")
	f.DurationVar(&flags.checkTimeout, "check-timeout", check.DefaultCheckTimeout, "how long the linearizability search may take (running out fails)")
	f.StringVar(&flags.outputDirectory, "out-dir", "", "where a failed run writes its report (default lockstep-check-<seed>)")
	f.StringVar(&flags.workDirectory, "work-dir", "", "where members keep data and logs (default: a temporary directory, removed)")
	f.BoolVar(&flags.quiet, "quiet", false, "print only the summary line")
	f.BoolVar(&flags.serializableReads, "serializable-reads", false,
		"deliberately unsafe: serializable (possibly stale) gets, to see the checker catch stale reads")
	return command
}

// config turns the flags into a check.Config.
func (flags *checkFlags) config(command *cobra.Command) (check.Config, error) {
	faultList := flags.faults
	if flags.endpoints != "" && !command.Flags().Changed("faults") {
		faultList = string(fault.Transfer)
	}
	if faultList == "none" {
		faultList = ""
	}
	kinds, err := fault.ParseKinds(faultList)
	if err != nil {
		return check.Config{}, err
	}
	switch cluster.Kind(flags.system) {
	case cluster.Etcd, cluster.Lockstep:
	default:
		return check.Config{}, fmt.Errorf("check: --system %q: want lockstep or etcd", flags.system)
	}
	seed := flags.seed
	if !command.Flags().Changed("seed") {
		seed = rand.Int64N(1_000_000_000)
	}
	var endpoints []string
	for _, endpoint := range strings.Split(flags.endpoints, ",") {
		if endpoint = strings.TrimSpace(endpoint); endpoint != "" {
			endpoints = append(endpoints, endpoint)
		}
	}
	var progress io.Writer = command.ErrOrStderr()
	if flags.quiet {
		progress = nil
	}
	config := check.Config{
		System:    cluster.System{Kind: cluster.Kind(flags.system), Binary: flags.binary, SnapshotCount: flags.snapshotCount},
		Members:   flags.members,
		Endpoints: endpoints,
		Duration:  flags.duration,
		Faults:    kinds,
		// Unless the faults were chosen, the default is every kind this
		// machine and system allow.
		DropUnavailableFaults: !command.Flags().Changed("faults"),
		DiskBytes:             int64(flags.diskMebibytes) << 20,
		Seed:                  seed,
		Clients:               flags.clients,
		Keys:                  flags.keys,
		OperationTimeout:      flags.operationTimeout,
		CheckTimeout:          flags.checkTimeout,
		SerializableReads:     flags.serializableReads,
		OutputDirectory:       flags.outputDirectory,
		WorkDirectory:         flags.workDirectory,
		Progress:              progress,
	}
	// Validate before defaults fill zero fields: a zero given on the
	// command line is an error, not a request for the default.
	if err := config.Validate(); err != nil {
		return check.Config{}, err
	}
	return config.WithDefaults(), nil
}

// runCheck runs the checker and prints its summary line last on out;
// anything else goes to errorOutput. It fails unless the run passed.
func runCheck(ctx context.Context, out, errorOutput io.Writer, config check.Config) error {
	fmt.Fprintf(errorOutput, "check: seed %d; repeat with: %s\n", config.Seed, runnable(config.Command()))
	result, err := check.Run(ctx, config)
	if err != nil {
		result = check.Result{Problems: []string{err.Error()}}
	}
	if result.OutputDirectory != "" {
		fmt.Fprintf(errorOutput, "check: seed %d failed; report in %s\n", config.Seed, result.OutputDirectory)
	}
	fmt.Fprintln(out, result.Summary())
	if !result.Passed() {
		return &exitError{code: 1, message: fmt.Sprintf("check failed (seed %d)", config.Seed)}
	}
	return nil
}
