package main

import (
	"time"

	"github.com/lockstepdb/lockstep/loadgen"
)

// workload is one measurement of issue 7, run on every system in every
// round.
type workload struct {
	Name  string // file-name friendly: plots are <Name>.svg
	Title string
	// configure returns the loadgen configuration for endpoints.
	configure func(endpoints []string, duration, warmup time.Duration) loadgen.Config
}

// workloads are issue 7's three measurements. All send to the leader only
// (--target-leader), so that a run does not depend on which member a
// single client happens to reach, and use etcd's benchmark's usual sizes:
// 8-byte keys, 256-byte values.
var workloads = []workload{
	{
		Name:  "put-1000-clients",
		Title: "put, 1,000 clients over 100 connections",
		configure: func(endpoints []string, duration, warmup time.Duration) loadgen.Config {
			return putConfig(endpoints, duration, warmup, 1000, 100)
		},
	},
	{
		Name:  "put-1-client",
		Title: "put, 1 client",
		configure: func(endpoints []string, duration, warmup time.Duration) loadgen.Config {
			return putConfig(endpoints, duration, warmup, 1, 1)
		},
	},
	{
		Name:  "range-1000-clients",
		Title: "linearizable range, 1,000 clients over 100 connections",
		configure: func(endpoints []string, duration, warmup time.Duration) loadgen.Config {
			config := baseConfig(endpoints, duration, warmup)
			config.Workload, config.Consistency = loadgen.WorkloadRange, loadgen.Linearizable
			config.Clients, config.Connections = 1000, 100
			config.KeySpace = 1000 // written once before the run (prefill)
			return config
		},
	},
}

func baseConfig(endpoints []string, duration, warmup time.Duration) loadgen.Config {
	config := loadgen.DefaultConfig()
	config.Endpoints = endpoints
	config.Duration, config.Warmup = duration, warmup
	config.TargetLeader = true
	config.KeySize, config.ValueSize = 8, 256
	return config
}

// putConfig writes sequential keys over a space large enough that a run
// rarely rewrites a key.
func putConfig(endpoints []string, duration, warmup time.Duration, clients, connections int) loadgen.Config {
	config := baseConfig(endpoints, duration, warmup)
	config.Workload = loadgen.WorkloadPut
	config.Clients, config.Connections = clients, connections
	config.KeySpace, config.SequentialKeys = 1_000_000, true
	return config
}
