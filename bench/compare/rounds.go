package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lockstepdb/lockstep/loadgen"
	"github.com/lockstepdb/lockstep/loadgen/localcluster"
)

// Cluster settings, the same for every system: issue 7's "heartbeat 100
// ms, election 1000 ms", fsync on (neither server has a way to turn it
// off through these flags).
const (
	members           = 3
	heartbeatInterval = 100 * time.Millisecond
	electionTimeout   = time.Second
)

// results is everything a run measured; its JSON form is results.json.
type results struct {
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	Arguments []string  `json:"arguments"`
	Machine   machine   `json:"machine"`
	Rounds    int       `json:"rounds"`
	Duration  string    `json:"duration"`
	Warmup    string    `json:"warmup"`
	Workloads []string  `json:"workloads"`
	// BigStoreKeys and BigStoreValueSize: big-store's size;
	// QuotaBackendBytes: the servers' quota if set (0: their default).
	BigStoreKeys      int        `json:"big_store_keys"`
	BigStoreValueSize int        `json:"big_store_value_size"`
	QuotaBackendBytes int64      `json:"quota_backend_bytes,omitempty"`
	Systems           []system   `json:"systems"`
	FsyncBefore       fsyncProbe `json:"fsync_before"`
	FsyncAfter        fsyncProbe `json:"fsync_after"`
	// FsyncConcurrent is the probe with one writer per member at once, as
	// a cluster on this machine syncs its logs; Wake is the thread wake
	// probe. Both run before the rounds; absent from older results.
	FsyncConcurrent fsyncProbe `json:"fsync_concurrent,omitempty"`
	FsyncWriters    int        `json:"fsync_writers,omitempty"`
	// FsyncQuorum is the replicated write's probe (measureQuorumFsync),
	// with FsyncWriters writers; absent from older results.
	FsyncQuorum fsyncProbe      `json:"fsync_quorum,omitempty"`
	Wake        wakeProbe       `json:"wake,omitempty"`
	Clusters    []clusterRecord `json:"clusters"`
	Runs        []runRecord     `json:"runs"`
	Incomplete  string          `json:"incomplete,omitempty"`

	// display turns the machine's paths into the report's (paths.go).
	display *strings.Replacer
	// rewritten: the report is written from an earlier run's
	// results.json (--report-from), not from a run of its own.
	rewritten bool
}

// clusterRecord is one cluster's life: one system in one round.
type clusterRecord struct {
	System   string   `json:"system"`
	Round    int      `json:"round"`
	Commands []string `json:"commands"`
	PeakRSS  []int64  `json:"peak_rss_bytes"` // per member, at the end of the round
	// Memory is each member's memory at the end of the round (absent in
	// results of runs before it was recorded).
	Memory []localcluster.Memory `json:"memory,omitempty"`
	Error  string                `json:"error,omitempty"`
}

// runRecord is one workload (or one stage of big-store, with Workload
// "big-store-<stage>") on one cluster.
type runRecord struct {
	System   string          `json:"system"`
	Round    int             `json:"round"`
	Workload string          `json:"workload"`
	Command  string          `json:"command"`
	Result   *loadgen.Result `json:"result,omitempty"`
	CPU      *cpuUse         `json:"cpu,omitempty"`
	// Memory is each member's memory once the workload (all its stages)
	// ended: its Peak shows which workload raised a member's peak.
	Memory []localcluster.Memory `json:"memory,omitempty"`
	// Profiles is each member's CPU by component over ProfileSeconds
	// from the start of the measured window (profiles.go), for the runs
	// that took them.
	Profiles       []memberProfile `json:"profiles,omitempty"`
	ProfileSeconds int             `json:"profile_seconds,omitempty"`
	Error          string          `json:"error,omitempty"`
}

// runRound starts system's cluster in a fresh directory, runs every
// workload on it, records the members' peak memory, and stops it.
func (r *results) runRound(ctx context.Context, system system, round int, o options, work string, log io.Writer) {
	record := clusterRecord{System: system.Name, Round: round}
	defer func() { r.Clusters = append(r.Clusters, record) }()
	directory := filepath.Join(work, fmt.Sprintf("%s-round%d", system.Name, round))
	if err := os.MkdirAll(directory, 0o755); err != nil {
		record.Error = r.show(err.Error())
		return
	}
	defer os.RemoveAll(directory)
	fmt.Fprintf(log, "compare: round %d: starting %s\n", round, system.Name)
	var extra []string
	if system.quota && o.quotaBytes > 0 {
		extra = []string{"--quota-backend-bytes", strconv.FormatInt(o.quotaBytes, 10)}
	}
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		Command: system.Command, Members: system.Members, Directory: directory,
		HeartbeatInterval: heartbeatInterval, ElectionTimeout: electionTimeout,
		MemberFlags: system.memberFlags, ExtraArguments: extra,
		MetricsListeners: system.profiled && o.profiles,
	})
	if err != nil {
		record.Error = r.show(err.Error())
		fmt.Fprintf(log, "compare: round %d: %s did not start: %v\n", round, system.Name, err)
		return
	}
	defer cluster.Stop()
	var pids []int
	for _, member := range cluster.Members() {
		record.Commands = append(record.Commands, r.show(member.CommandLine()))
		pids = append(pids, member.PID())
	}
	for _, name := range o.workloads {
		if ctx.Err() != nil {
			break
		}
		w, _ := findWorkload(name)
		r.runWorkload(ctx, w, cluster, pids, system, round, o, log)
	}
	// Read before stopping: the peak of a process that has exited is gone.
	if record.Memory, err = cluster.Memory(); err != nil {
		record.Error = r.show(err.Error())
	}
	for _, use := range record.Memory {
		record.PeakRSS = append(record.PeakRSS, use.Peak)
	}
}

// runWorkload runs w on cluster and records it: one record, or one per
// stage of big-store, each with the CPU its processes used in its
// measured window.
func (r *results) runWorkload(ctx context.Context, w workload, cluster *localcluster.Cluster, pids []int, system system, round int, o options, log io.Writer) {
	config := w.configure(cluster.ClientEndpoints(), o)
	windows := newCPUWindows(pids)
	config.OnMeasure = windows.onMeasure
	var metricsURLs []string
	for _, member := range cluster.Members() {
		metricsURLs = append(metricsURLs, member.MetricsURL)
	}
	profiles := newRunProfiler(metricsURLs, system, w, round, o)
	if profiles != nil {
		config.OnMeasure = profiles.onMeasure(ctx, config.OnMeasure)
	}
	progress := newRunProgress(log, config, fmt.Sprintf("round %d: %s %s", round, system.Name, w.Name))
	config.Progress = progress.update
	command := "lockstep bench " + strings.Join(config.Args(), " ")
	result, err := loadgen.Run(ctx, config)
	progress.finish()
	var memberProfiles map[string][]memberProfile // by stage
	if profiles != nil {
		memberProfiles = profiles.wait() // before the cluster stops, failed run or not
	}
	if err != nil {
		r.Runs = append(r.Runs, runRecord{System: system.Name, Round: round, Workload: w.Name, Command: command, Error: r.show(err.Error())})
		fmt.Fprintf(log, "compare: round %d: %s %s: %v\n", round, system.Name, w.Name, err)
		return
	}
	memory, err := cluster.Memory()
	if err != nil {
		fmt.Fprintf(log, "compare: round %d: %s %s: memory: %v\n", round, system.Name, w.Name, err)
	}
	stages := []*loadgen.Result{result}
	if len(result.Stages) > 0 {
		stages = result.Stages
	}
	for _, stage := range stages {
		name := w.Name
		if stage.Stage != "" {
			name += "-" + stage.Stage
		}
		run := runRecord{System: system.Name, Round: round, Workload: name, Command: command, Result: stage,
			CPU: windows.use(stage.Stage, cluster.ClientEndpoints(), stage.Endpoints), Memory: memory}
		if stageProfiles := memberProfiles[stage.Stage]; stageProfiles != nil {
			run.Profiles, run.ProfileSeconds = stageProfiles, profiles.seconds
		}
		r.Runs = append(r.Runs, run)
		line := fmt.Sprintf("compare: round %d: %-8s %-22s %8.0f ops/s  p50 %-7s p99 %-7s errors %d", round, system.Name, name,
			stage.OperationsPerSecond, loadgen.FormatMilliseconds(stage.Latency.P50), loadgen.FormatMilliseconds(stage.Latency.P99), stage.Errors)
		if stage.Workload == loadgen.WorkloadWatchFanout {
			line += fmt.Sprintf("  %.0f events/s", stage.EventsPerSecond)
		}
		if leader, ok := run.CPU.perOperation(roleLeader, operationsOf(stage)); ok {
			line += fmt.Sprintf("  leader CPU %.0fµs/op", leader)
		}
		fmt.Fprintln(log, line)
	}
}

// operationsOf is what CPU is divided by: operations, or for watch-fanout
// the events delivered.
func operationsOf(result *loadgen.Result) int64 {
	if result.Workload == loadgen.WorkloadWatchFanout {
		return result.EventsDelivered
	}
	return result.Operations
}

// show turns the machine's paths in text into the report's.
func (r *results) show(text string) string {
	if r.display == nil {
		return text
	}
	return r.display.Replace(text)
}

// readResults loads the results.json of an earlier run, for
// --report-from; the report says it was rewritten.
func readResults(path string) (*results, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--report-from: %w", err)
	}
	r := &results{}
	if err := json.Unmarshal(content, r); err != nil {
		return nil, fmt.Errorf("--report-from %s: not a results.json of bench/compare: %w", path, err)
	}
	if len(r.Systems) == 0 || len(r.Runs) == 0 {
		return nil, fmt.Errorf("--report-from %s: no systems or runs in it", path)
	}
	r.rewritten = true
	return r, nil
}
