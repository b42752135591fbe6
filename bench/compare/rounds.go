package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	Started     time.Time       `json:"started"`
	Finished    time.Time       `json:"finished"`
	Arguments   []string        `json:"arguments"`
	Machine     machine         `json:"machine"`
	Rounds      int             `json:"rounds"`
	Duration    string          `json:"duration"`
	Warmup      string          `json:"warmup"`
	Systems     []system        `json:"systems"`
	FsyncBefore fsyncProbe      `json:"fsync_before"`
	FsyncAfter  fsyncProbe      `json:"fsync_after"`
	Clusters    []clusterRecord `json:"clusters"`
	Runs        []runRecord     `json:"runs"`
	Incomplete  string          `json:"incomplete,omitempty"`
}

// clusterRecord is one cluster's life: one system in one round.
type clusterRecord struct {
	System   string   `json:"system"`
	Round    int      `json:"round"`
	Commands []string `json:"commands"`
	PeakRSS  []int64  `json:"peak_rss_bytes"` // per member, at the end of the round
	Error    string   `json:"error,omitempty"`
}

// runRecord is one workload on one cluster.
type runRecord struct {
	System   string          `json:"system"`
	Round    int             `json:"round"`
	Workload string          `json:"workload"`
	Command  string          `json:"command"`
	Result   *loadgen.Result `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// runRound starts system's cluster in a fresh directory, runs every
// workload on it, records the members' peak memory, and stops it.
func (r *results) runRound(ctx context.Context, system system, round int, o options, work string, log io.Writer) {
	record := clusterRecord{System: system.Name, Round: round}
	defer func() { r.Clusters = append(r.Clusters, record) }()
	directory := filepath.Join(work, fmt.Sprintf("%s-round%d", system.Name, round))
	if err := os.MkdirAll(directory, 0o755); err != nil {
		record.Error = err.Error()
		return
	}
	defer os.RemoveAll(directory)
	fmt.Fprintf(log, "compare: round %d: starting %s\n", round, system.Name)
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		Command: system.Command, Members: members, Directory: directory,
		HeartbeatInterval: heartbeatInterval, ElectionTimeout: electionTimeout,
	})
	if err != nil {
		record.Error = err.Error()
		fmt.Fprintf(log, "compare: round %d: %s did not start: %v\n", round, system.Name, err)
		return
	}
	defer cluster.Stop()
	for _, member := range cluster.Members() {
		record.Commands = append(record.Commands, member.CommandLine())
	}
	for _, w := range workloads {
		if ctx.Err() != nil {
			break
		}
		config := w.configure(cluster.ClientEndpoints(), o.duration, o.warmup)
		run := runRecord{System: system.Name, Round: round, Workload: w.Name, Command: "lockstep bench " + strings.Join(config.Args(), " ")}
		run.Result, err = loadgen.Run(ctx, config)
		if err != nil {
			run.Error = err.Error()
			fmt.Fprintf(log, "compare: round %d: %s %s: %v\n", round, system.Name, w.Name, err)
		} else {
			fmt.Fprintf(log, "compare: round %d: %-8s %-18s %8.0f ops/s  p50 %-7s p99 %-7s errors %d\n", round, system.Name, w.Name,
				run.Result.OperationsPerSecond, loadgen.FormatMilliseconds(run.Result.Latency.P50),
				loadgen.FormatMilliseconds(run.Result.Latency.P99), run.Result.Errors)
		}
		r.Runs = append(r.Runs, run)
	}
	// Read before stopping: the peak of a process that has exited is gone.
	if record.PeakRSS, err = cluster.PeakRSS(); err != nil {
		record.Error = err.Error()
	}
}
