// Command compare measures lockstep against etcd v3.7.3 and against the
// protocol floor on one machine, in one run: 3-member clusters of etcd and
// lockstep and the floor's one process, started in turn (etcd, lockstep,
// floor, etcd, ...) on 127.0.0.1 with the same settings, loaded by the
// same load generator (the loadgen package behind `lockstep bench`), with
// the disk's raw fsync rate measured in the same run. It writes a Markdown
// report with medians, ranges, ratios, CPU per operation, peak memory and
// plots.
//
// The floor is this program too: `compare floor-server --listen ADDRESS`
// serves etcd's KV, Watch and Maintenance.Status from a map in memory, with
// no consensus, storage or replication (floor_*.go). And `compare
// cpu-breakdown --ops N PROFILE` splits a member's CPU profile by the
// component that spent it (breakdown.go).
//
// Run it from the repository root with `go -C bench/compare run .` (or
// `cd bench/compare && go run .`); see docs/benchmark-method.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lockstepdb/lockstep/loadgen"
)

// options are the command's flags.
type options struct {
	systems   []string
	workloads []string
	rounds    int
	duration  time.Duration
	warmup    time.Duration
	fsync     time.Duration
	timeout   time.Duration
	out       string
	plots     string
	directory string
	// big-store's size, and the servers' --quota-backend-bytes (0: their
	// default).
	bigStoreKeys, bigStoreValueSize int
	quotaBytes                      int64
	// profiles: lockstep's members are profiled in the workloads of
	// the throughput goals and in big-store (profiles.go).
	profiles bool
	// profilesDirectory, if not "", keeps every raw profile.
	profilesDirectory string
	arguments         []string // as given, for the report
	// reportFrom: a results.json of an earlier run to write the report
	// from, running nothing (for a report whose sections changed).
	reportFrom string
	root       string // the repository's root, found by run
}

func parseOptions(arguments []string, errorOutput io.Writer) (options, error) {
	o := options{arguments: arguments}
	flags := flag.NewFlagSet("compare", flag.ContinueOnError)
	flags.SetOutput(errorOutput)
	systems := flags.String("systems", strings.Join(knownSystems, ","), "systems to run, in this order within each round: any of "+strings.Join(knownSystems, ", "))
	workloadList := flags.String("workloads", strings.Join(defaultWorkloads(), ","), "workloads to run, in this order: any of "+workloadNames())
	flags.IntVar(&o.bigStoreKeys, "big-store-keys", loadgen.DefaultBigStoreKeySpace, "big-store: keys of the big store")
	flags.IntVar(&o.bigStoreValueSize, "big-store-value-size", loadgen.DefaultBigStoreValueSize, "big-store: value size in bytes")
	flags.Int64Var(&o.quotaBytes, "quota-backend-bytes", 0, "passed to etcd's and lockstep's members when not 0 (both refuse writes past 2 GiB by default)")
	flags.BoolVar(&o.profiles, "profiles", true, "take a CPU profile of each lockstep member over the measured window of "+profiledWorkloadNames()+", and report where its CPU goes")
	flags.StringVar(&o.profilesDirectory, "profiles-dir", "", "also keep each raw CPU profile in this directory (SYSTEM-roundN-WORKLOAD[-STAGE]-memberM.pprof), for go tool pprof")
	flags.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every system once")
	flags.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each workload")
	flags.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each workload")
	flags.DurationVar(&o.fsync, "fsync", 2*time.Second, "length of each raw fsync probe (four: one writer before and after the rounds; before them, one writer per member at once, and the same in rounds until a majority is durable)")
	flags.DurationVar(&o.timeout, "timeout", 15*time.Minute, "the whole run stops (and reports what it has) after this long")
	flags.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "the Markdown report (a relative path is from the repository root)")
	flags.StringVar(&o.plots, "plots", "", "directory of the plots and results.json (default: benchmarks/ next to --out)")
	flags.StringVar(&o.directory, "dir", os.TempDir(), "where the clusters' data directories go (on the disk to measure)")
	flags.StringVar(&o.reportFrom, "report-from", "", "write the report from this results.json of an earlier run (a relative path is from the repository root), running nothing: the run's own figures, with this version's sections")
	if err := flags.Parse(arguments); err != nil {
		return o, err
	}
	if flags.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	for _, name := range strings.Split(*systems, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(knownSystems, name) {
			return o, fmt.Errorf("--systems: unknown system %q (want %s)", name, strings.Join(knownSystems, ", "))
		}
		if slices.Contains(o.systems, name) {
			return o, fmt.Errorf("--systems names %s twice", name)
		}
		o.systems = append(o.systems, name)
	}
	for _, name := range strings.Split(*workloadList, ",") {
		name = strings.TrimSpace(name)
		if _, ok := findWorkload(name); !ok {
			return o, fmt.Errorf("--workloads: unknown workload %q (want %s)", name, workloadNames())
		}
		if slices.Contains(o.workloads, name) {
			return o, fmt.Errorf("--workloads names %s twice", name)
		}
		o.workloads = append(o.workloads, name)
	}
	switch {
	case o.rounds < 1:
		return o, fmt.Errorf("--rounds %d must be at least 1", o.rounds)
	case o.duration <= 0:
		return o, fmt.Errorf("--duration %v must be positive", o.duration)
	case o.warmup < 0:
		return o, fmt.Errorf("--warmup %v must not be negative", o.warmup)
	case o.fsync <= 0:
		return o, fmt.Errorf("--fsync %v must be positive", o.fsync)
	case o.timeout <= 0:
		return o, fmt.Errorf("--timeout %v must be positive", o.timeout)
	case o.quotaBytes < 0:
		return o, fmt.Errorf("--quota-backend-bytes %d must not be negative", o.quotaBytes)
	}
	if o.profilesDirectory != "" {
		if err := os.MkdirAll(o.profilesDirectory, 0o755); err != nil {
			return o, fmt.Errorf("--profiles-dir: %w", err)
		}
	}
	if slices.Contains(o.workloads, "big-store") {
		w, _ := findWorkload("big-store")
		if err := w.configure([]string{"127.0.0.1:1"}, o).Validate(); err != nil {
			return o, fmt.Errorf("big-store: %w", err)
		}
	}
	if planned := o.plannedDuration(); planned > o.timeout {
		return o, fmt.Errorf("the plan takes about %v, more than --timeout %v: lower --rounds or --duration", planned.Round(time.Second), o.timeout)
	}
	return o, nil
}

// clusterOverhead is a generous estimate of the time to start and stop a
// cluster, and perRunOverhead of a workload's connections and prefill.
const (
	clusterOverhead = 6 * time.Second
	perRunOverhead  = 2 * time.Second
)

// fsyncProbes is how many raw fsync probes a run makes, each --fsync long.
const fsyncProbes = 4

// plannedDuration estimates the whole run (builds excluded).
func (o options) plannedDuration() time.Duration {
	perCluster := clusterOverhead
	for _, name := range o.workloads {
		w, _ := findWorkload(name)
		perCluster += o.warmup + o.duration + perRunOverhead
		if w.estimate != nil {
			perCluster += w.estimate(o)
		}
	}
	return fsyncProbes*o.fsync + time.Duration(o.rounds*len(o.systems))*perCluster
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == floorCommand {
		os.Exit(floorMain(os.Args[2:], os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == breakdownCommand {
		os.Exit(breakdownMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	o, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// run does the whole comparison and writes the report.
func run(ctx context.Context, o options, out, log io.Writer) error {
	root, err := repositoryRoot(ctx)
	if err != nil {
		return err
	}
	o.root = root
	if !filepath.IsAbs(o.out) {
		o.out = filepath.Join(root, o.out)
	}
	if o.plots == "" {
		o.plots = filepath.Join(filepath.Dir(o.out), "benchmarks")
	} else if !filepath.IsAbs(o.plots) {
		o.plots = filepath.Join(root, o.plots)
	}
	if o.reportFrom != "" {
		if !filepath.IsAbs(o.reportFrom) {
			o.reportFrom = filepath.Join(root, o.reportFrom)
		}
		earlier, err := readResults(o.reportFrom)
		if err != nil {
			return err
		}
		return earlier.write(o, out)
	}
	work, err := os.MkdirTemp(o.directory, "lockstep-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Fprintf(log, "compare: plan: %d round(s) of %s; %s; %v per workload; about %v\n", o.rounds, strings.Join(o.systems, ", "),
		strings.Join(o.workloads, ", "), o.duration, o.plannedDuration().Round(time.Second))
	results := &results{Started: time.Now(), Arguments: o.arguments, Machine: describeMachine(), Rounds: o.rounds, Duration: o.duration.String(), Warmup: o.warmup.String(),
		Workloads: o.workloads, BigStoreKeys: o.bigStoreKeys, BigStoreValueSize: o.bigStoreValueSize, QuotaBackendBytes: o.quotaBytes}
	executable, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program, which serves the floor: %w", err)
	}
	for _, name := range o.systems {
		fmt.Fprintf(log, "compare: preparing %s\n", name)
		prepared, err := prepareSystem(ctx, name, root, work, executable)
		if err != nil {
			return err
		}
		results.Systems = append(results.Systems, prepared)
	}
	results.display = newPathDisplay(root, work, executable, results.Systems)
	// The watchdog starts after the builds: a cold etcd build alone takes
	// minutes, and is not part of the measurement.
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if results.FsyncBefore, err = measureFsync(work, o.fsync); err != nil {
		return err
	}
	fmt.Fprintf(log, "compare: raw fsync: %.0f/s, p50 %.3f ms\n", results.FsyncBefore.PerSecond, results.FsyncBefore.P50Ms)
	results.FsyncWriters = members
	if results.FsyncConcurrent, err = measureConcurrentFsync(work, o.fsync, members); err != nil {
		return err
	}
	fmt.Fprintf(log, "compare: raw fsync, %d writers at once: p50 %.3f ms\n", members, results.FsyncConcurrent.P50Ms)
	if results.FsyncQuorum, err = measureQuorumFsync(work, o.fsync, members); err != nil {
		return err
	}
	fmt.Fprintf(log, "compare: raw fsync, %d writers at once until %d are durable: p50 %.3f ms\n", members, members/2+1, results.FsyncQuorum.P50Ms)
	results.Wake = measureWake(wakeSamples)
	fmt.Fprintf(log, "compare: thread wake: p50 %.0f µs\n", results.Wake.P50Us)
	for round := 1; round <= o.rounds && ctx.Err() == nil; round++ {
		for _, system := range results.Systems {
			if ctx.Err() != nil {
				break
			}
			results.runRound(ctx, system, round, o, work, log)
		}
	}
	if ctx.Err() != nil {
		results.Incomplete = fmt.Sprintf("the run stopped early (%v); the figures cover what finished", context.Cause(ctx))
	} else if results.FsyncAfter, err = measureFsync(work, o.fsync); err != nil {
		return err
	}
	results.Finished = time.Now()
	return results.write(o, out)
}
