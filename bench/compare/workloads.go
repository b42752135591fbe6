package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/lockstepdb/lockstep/loadgen"
)

// workload is one measurement, run on every system in every round.
type workload struct {
	Name  string // file-name friendly: plots are <Name>.svg (<Name>-<stage>.svg for big-store)
	Title string
	// configure returns the loadgen configuration for endpoints.
	configure func(endpoints []string, o options) loadgen.Config
	// optIn: run only when --workloads names it (big-store: long, and
	// gigabytes of disk and memory per system).
	optIn bool
	// estimate is a generous guess at the time the workload takes beyond
	// warm-up and measurement, for the plan.
	estimate func(o options) time.Duration
}

// workloads are issue 7's three measurements and issue 15's two. All send
// to the leader only (--target-leader), so that a run does not depend on
// which member a single client happens to reach, and use etcd's
// benchmark's usual sizes, 8-byte keys and 256-byte values, except
// big-store's values.
var workloads = []workload{
	{
		Name:  "put-1000-clients",
		Title: "put, 1,000 clients over 100 connections",
		configure: func(endpoints []string, o options) loadgen.Config {
			return putConfig(endpoints, o, 1000, 100)
		},
	},
	{
		Name:  "put-1-client",
		Title: "put, 1 client",
		configure: func(endpoints []string, o options) loadgen.Config {
			return putConfig(endpoints, o, 1, 1)
		},
	},
	{
		Name:  "range-1000-clients",
		Title: "linearizable range, 1,000 clients over 100 connections",
		configure: func(endpoints []string, o options) loadgen.Config {
			config := baseConfig(endpoints, o)
			config.Workload, config.Consistency = loadgen.WorkloadRange, loadgen.Linearizable
			config.Clients, config.Connections = 1000, 100
			config.KeySpace = 1000 // written once before the run (prefill)
			return config
		},
	},
	{
		Name:  "watch-fanout",
		Title: "watch fan-out: 1 writer, 10,000 watchers over 100 streams on its key range",
		configure: func(endpoints []string, o options) loadgen.Config {
			config := baseConfig(endpoints, o)
			config.Workload = loadgen.WorkloadWatchFanout
			config.Clients, config.Connections = 1, 100
			config.Watchers, config.Streams = loadgen.DefaultWatchers, loadgen.DefaultStreams
			config.KeySpace, config.SequentialKeys = 1000, true
			return config
		},
		estimate: func(options) time.Duration { return 5 * time.Second }, // opening 10,000 watches
	},
	{
		Name:  "big-store",
		Title: "big store",
		configure: func(endpoints []string, o options) loadgen.Config {
			config := baseConfig(endpoints, o)
			config.Workload, config.Consistency = loadgen.WorkloadBigStore, loadgen.Linearizable
			config.Clients, config.Connections = 1000, 100
			config.KeySpace, config.ValueSize, config.SmallKeySpace = o.bigStoreKeys, o.bigStoreValueSize, loadgen.DefaultSmallKeySpace
			return config
		},
		optIn: true,
		estimate: func(o options) time.Duration {
			stages := time.Duration(len(loadgen.BigStoreStages))
			prefill := time.Duration(float64(o.bigStoreKeys) * float64(o.bigStoreValueSize+8) / prefillBytesPerSecond * float64(time.Second))
			return (stages-1)*(o.warmup+o.duration+perRunOverhead) + prefill
		},
	},
}

// prefillBytesPerSecond is a cautious guess at the rate a 3-member
// cluster stores big-store's prefill, for the plan (the 4 GB default
// store: about 14 minutes per system).
const prefillBytesPerSecond = 5e6

// defaultWorkloads are the workloads run without --workloads.
func defaultWorkloads() []string {
	var names []string
	for _, w := range workloads {
		if !w.optIn {
			names = append(names, w.Name)
		}
	}
	return names
}

// findWorkload returns the workload named name.
func findWorkload(name string) (workload, bool) {
	for _, w := range workloads {
		if w.Name == name {
			return w, true
		}
	}
	return workload{}, false
}

func workloadNames() string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.Name
	}
	return strings.Join(names, ", ")
}

func baseConfig(endpoints []string, o options) loadgen.Config {
	config := loadgen.DefaultConfig()
	config.Endpoints = endpoints
	config.Duration, config.Warmup = o.duration, o.warmup
	config.TargetLeader = true
	config.KeySize, config.ValueSize = 8, 256
	return config
}

// putConfig writes sequential keys over a space large enough that a run
// rarely rewrites a key.
func putConfig(endpoints []string, o options, clients, connections int) loadgen.Config {
	config := baseConfig(endpoints, o)
	config.Workload = loadgen.WorkloadPut
	config.Clients, config.Connections = clients, connections
	config.KeySpace, config.SequentialKeys = 1_000_000, true
	return config
}

// section is one table of the report: a workload, or one stage of
// big-store. Its name keys the runs (runRecord.Workload) and the plot.
type section struct {
	Name, Title string
	// fanout: the figures are events (watch-fanout).
	fanout bool
}

// sections returns the report's sections for the workloads that ran.
func sections(names []string, o options) []section {
	var list []section
	for _, name := range names {
		w, _ := findWorkload(name)
		switch w.Name {
		case "big-store":
			for _, stage := range loadgen.BigStoreStages {
				list = append(list, section{Name: w.Name + "-" + stage, Title: bigStoreStageTitle(stage, o)})
			}
		case "watch-fanout":
			list = append(list, section{Name: w.Name, Title: w.Title, fanout: true})
		default:
			list = append(list, section{Name: w.Name, Title: w.Title})
		}
	}
	return list
}

// bigStoreStageTitle describes a stage of big-store, e.g. "big store:
// linearizable range on 4,000,000 keys of 1,024 bytes".
func bigStoreStageTitle(stage string, o options) string {
	size, operation, _ := strings.Cut(stage, "-")
	keys := o.bigStoreKeys
	if size == "small" {
		keys = loadgen.DefaultSmallKeySpace
	}
	if operation == "range" {
		operation = "linearizable range"
	}
	return fmt.Sprintf("big store: %s on %s keys of %s bytes, 1,000 clients over 100 connections", operation,
		formatCount(float64(keys)), formatCount(float64(o.bigStoreValueSize)))
}
