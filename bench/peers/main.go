// Command peers benchmarks lockstep against hashicorp/raft v1.8.0 in one
// process and one run: 3-node clusters of each over TCP on 127.0.0.1, fsync
// on, 256-byte commands applied through the leader by 1, 256 and 1024
// concurrent appliers, phases alternating between the two libraries. It also
// measures the disk's raw fsync latency in the same directory. See
// docs/benchmark-peers.md.
//
//	go run . -duration 10s -rounds 2
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	duration, warmup, fsyncDuration time.Duration
	rounds                          int
	appliers                        []int
	systems                         []string
	dir, cpuProfile                 string
	logCache                        int
}

func main() {
	var o options
	var appliers, systems string
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each phase")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each phase's window")
	flag.DurationVar(&o.fsyncDuration, "fsync", 3*time.Second, "duration of each raw fsync measurement (one file before and after the phases, three files concurrently once)")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds per setting (each round runs every system once, in -systems order)")
	flag.StringVar(&appliers, "appliers", "1,256,1024", "settings: numbers of concurrent appliers")
	flag.StringVar(&systems, "systems", "lockstep,hashicorp", "systems, in the order each round runs them")
	flag.StringVar(&o.dir, "dir", ".data", "directory for the nodes' data (a real disk, not tmpfs); a fresh subdirectory is made and removed")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "if set, write a CPU profile of each setting's first lockstep phase to PREFIX.lockstep-N.pprof")
	flag.BoolVar(&asyncPersistence, "async", true, "lockstep: persist asynchronously (the loop steps messages during its own fsync), as lockstep serve does")
	flag.IntVar(&o.logCache, "logcache", 512, "hashicorp: raft.NewLogCache size in front of the bolt store (0: none)")
	flag.Parse()
	for _, field := range strings.Split(appliers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 || n > 100_000 {
			fatalf("bad -appliers %q", appliers)
		}
		o.appliers = append(o.appliers, n)
	}
	for _, s := range strings.Split(systems, ",") {
		s = strings.TrimSpace(s)
		if s != "lockstep" && s != "hashicorp" {
			fatalf("bad -systems %q", systems)
		}
		o.systems = append(o.systems, s)
	}
	if o.rounds < 1 || o.rounds > 100 || o.duration <= 0 || o.duration > time.Hour || o.warmup < 0 {
		fatalf("bad -rounds, -duration or -warmup")
	}
	if err := run(o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "peers: "+format+"\n", args...)
	os.Exit(1)
}

// key names one cell of the results: a setting and a system.
type key struct {
	appliers int
	system   string
}

type cell struct {
	opsPerSecond []float64 // one per round
	errors       int
	latencies    []time.Duration // all rounds
}

func run(o options) error {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	runDir, err := os.MkdirTemp(o.dir, "run-")
	if err != nil {
		return err
	}
	runDir, _ = filepath.Abs(runDir)
	cleanup := func() {
		os.RemoveAll(runDir)
		os.Remove(o.dir) // only if empty
	}
	defer cleanup()

	// Bounds: a watchdog ends the process (after removing the data) if the
	// run takes far longer than planned; SIGINT/SIGTERM stop it cleanly.
	phases := len(o.appliers) * o.rounds * len(o.systems)
	limit := 3*o.fsyncDuration + time.Duration(phases)*(o.warmup+o.duration+60*time.Second) + time.Minute
	watchdog := time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "peers: watchdog: still running after %v; removing %s and exiting\n", limit, runDir)
		cleanup()
		os.Exit(3)
	})
	defer watchdog.Stop()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	printMachine(runDir)
	fmt.Printf("plan: %d phases of %v (+%v warm-up) each; settings %v appliers; %d rounds; order per round %v\n\n",
		phases, o.duration, o.warmup, o.appliers, o.rounds, o.systems)

	fsyncBefore, err := measureFsync(runDir, o.fsyncDuration, 1)
	if err != nil {
		return fmt.Errorf("raw fsync: %w", err)
	}
	printFsync("raw fsync (before)", fsyncBefore)
	fsync3, err := measureFsync(runDir, o.fsyncDuration, 3)
	if err != nil {
		return fmt.Errorf("raw fsync: %w", err)
	}
	printFsync("3 files concurrently", fsync3)

	cells := map[key]*cell{}
	phase := 0
	for _, n := range o.appliers {
		for round := 1; round <= o.rounds; round++ {
			for _, system := range o.systems {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				phase++
				dir := filepath.Join(runDir, fmt.Sprintf("phase%02d-%s", phase, system))
				profile := ""
				if o.cpuProfile != "" && system == "lockstep" && round == 1 {
					profile = fmt.Sprintf("%s.lockstep-%d.pprof", o.cpuProfile, n)
				}
				result, err := runOne(ctx, system, dir, n, o, profile)
				os.RemoveAll(dir)
				if err != nil {
					return fmt.Errorf("phase %d (%s, %d appliers): %w", phase, system, n, err)
				}
				slices.Sort(result.latencies)
				fmt.Printf("phase %2d/%d  appliers=%-5d round %d  %-9s  %9.0f ops/s  p50 %-9v p99 %-9v errors %d\n",
					phase, phases, n, round, system, result.opsPerSecond(),
					percentile(result.latencies, 0.5).Round(time.Microsecond),
					percentile(result.latencies, 0.99).Round(time.Microsecond), result.errors)
				c := cells[key{n, system}]
				if c == nil {
					c = &cell{}
					cells[key{n, system}] = c
				}
				c.opsPerSecond = append(c.opsPerSecond, result.opsPerSecond())
				c.errors += result.errors
				c.latencies = append(c.latencies, result.latencies...)
				runtime.GC()
			}
		}
	}
	fmt.Println()
	fsyncAfter, err := measureFsync(runDir, o.fsyncDuration, 1)
	if err != nil {
		return fmt.Errorf("raw fsync: %w", err)
	}
	printFsync("raw fsync (after)", fsyncAfter)
	all := fsyncResult{count: fsyncBefore.count + fsyncAfter.count, elapsed: fsyncBefore.elapsed + fsyncAfter.elapsed,
		latencies: append(slices.Clone(fsyncBefore.latencies), fsyncAfter.latencies...)}
	slices.Sort(all.latencies)
	printFsync("raw fsync (both)", all)
	fmt.Println()
	for _, c := range cells {
		slices.Sort(c.latencies) // pooled over rounds
	}
	printTable(o, cells, all, fsync3)
	return nil
}

// runOne starts a fresh cluster of system under dir, runs one phase on it,
// checks the leader's state machine, and stops the cluster.
func runOne(ctx context.Context, system, dir string, appliers int, o options, profile string) (phaseResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return phaseResult{}, err
	}
	var c cluster
	var err error
	switch system {
	case "lockstep":
		c, err = startLockstep(dir)
	case "hashicorp":
		c, err = startHashicorp(dir, o.logCache)
	}
	if err != nil {
		return phaseResult{}, err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			c.stop()
			return phaseResult{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			c.stop()
			return phaseResult{}, err
		}
		defer pprof.StopCPUProfile()
	}
	result, err := runPhase(ctx, c, appliers, o.warmup, o.duration)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	if err == nil {
		if count, _ := c.applied(); count < uint64(result.ops) {
			err = fmt.Errorf("leader applied %d commands but %d applies succeeded", count, result.ops)
		}
	}
	return result, errors.Join(err, c.stop())
}

func printFsync(label string, r fsyncResult) {
	fmt.Printf("%-22s 4 KiB write+fdatasync: %d in %v = %.0f/s  p50 %v  p99 %v\n", label, r.count,
		r.elapsed.Round(time.Millisecond), r.rate(), percentile(r.latencies, 0.5).Round(time.Microsecond),
		percentile(r.latencies, 0.99).Round(time.Microsecond))
}

func printTable(o options, cells map[key]*cell, fsync, fsync3 fsyncResult) {
	fmt.Println("| appliers | system | ops/s (median of rounds) | rounds | p50 | p99 | errors |")
	fmt.Println("|---:|---|---:|---|---:|---:|---:|")
	for _, n := range o.appliers {
		for _, system := range o.systems {
			c := cells[key{n, system}]
			rounds := make([]string, len(c.opsPerSecond))
			for i, v := range c.opsPerSecond {
				rounds[i] = fmt.Sprintf("%.0f", v)
			}
			fmt.Printf("| %d | %s | %.0f | %s | %v | %v | %d |\n", n, system, median(c.opsPerSecond), strings.Join(rounds, ", "),
				percentile(c.latencies, 0.5).Round(time.Microsecond), percentile(c.latencies, 0.99).Round(time.Microsecond), c.errors)
		}
	}
	fmt.Println()
	ls, hc := "lockstep", "hashicorp"
	if !slices.Contains(o.systems, ls) || !slices.Contains(o.systems, hc) {
		return
	}
	for _, n := range o.appliers {
		ratio := median(cells[key{n, ls}].opsPerSecond) / median(cells[key{n, hc}].opsPerSecond)
		goal := ""
		if n >= 256 {
			goal = fmt.Sprintf("  (goal >= 5x: %s)", metOrNot(ratio >= 5))
		}
		fmt.Printf("ops/s lockstep/hashicorp at %d appliers: %.2fx%s\n", n, ratio, goal)
	}
	if slices.Contains(o.appliers, 1) {
		p50 := percentile(cells[key{1, ls}].latencies, 0.5)
		raw := percentile(fsync.latencies, 0.5)
		ratio := float64(p50) / float64(raw)
		fmt.Printf("lockstep p50 at 1 applier / raw fsync p50: %v / %v = %.2fx  (goal <= 2x: %s)\n",
			p50.Round(time.Microsecond), raw.Round(time.Microsecond), ratio, metOrNot(ratio <= 2))
		fmt.Printf("  (for context, not the goal: / p50 of 3 files fsynced concurrently, %v: %.2fx)\n",
			percentile(fsync3.latencies, 0.5).Round(time.Microsecond), float64(p50)/float64(percentile(fsync3.latencies, 0.5)))
	}
}

func metOrNot(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func printMachine(runDir string) {
	fmt.Printf("go %s, GOMAXPROCS %d, NumCPU %d, memory %s\n", runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), memTotal())
	fmt.Printf("data directory %s (%s)\n", runDir, filesystemType(runDir))
	if filesystemType(runDir) == "tmpfs" {
		fmt.Println("WARNING: the data directory is on tmpfs: fsync costs nothing there; pass -dir on a real disk")
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		var versions []string
		for _, m := range info.Deps {
			switch m.Path {
			case "github.com/hashicorp/raft", "github.com/hashicorp/raft-boltdb/v2", "go.etcd.io/bbolt", "github.com/hashicorp/go-metrics":
				v := m.Version
				if m.Replace != nil {
					v += " => " + m.Replace.Version
				}
				versions = append(versions, m.Path+" "+v)
			}
		}
		fmt.Printf("versions: lockstep (this tree), %s\n", strings.Join(versions, ", "))
	}
	fmt.Println("hashicorp/raft: raft-boltdb/v2 log+stable store (bbolt, NoSync=false), TCP transport; lockstep: WAL, gRPC transport; fsync on for both")
}

func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if rest, ok := strings.CutPrefix(scanner.Text(), "MemTotal:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return "unknown"
}
