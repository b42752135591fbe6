// Package workload runs the checker's concurrent clients: each issues
// linearizable gets, puts of unique values and compare-and-swaps (on value
// or mod revision) against one member, and records every operation.
package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/history"
)

// Config describes the clients.
type Config struct {
	// Clients is the number of concurrent clients.
	Clients int
	// Endpoints are member client URLs; client i talks only to
	// Endpoints[i % len(Endpoints)], so requests reach followers and must
	// be forwarded, and a faulty member fails its own clients.
	Endpoints []string
	// Keys is the key space; small, so clients contend.
	Keys []string
	// OperationTimeout bounds each operation; a write that times out is
	// recorded as ambiguous.
	OperationTimeout time.Duration
	// Seed chooses each client's operations.
	Seed int64
	// SerializableReads makes gets serializable: answered from the local
	// member's state, possibly stale. Deliberately unsafe, to show that the
	// checker catches stale reads (a member cut off in a minority keeps
	// answering with old values).
	SerializableReads bool
}

// failureBackoff is the pause after a failed operation, so a client whose
// member is down does not spin.
const failureBackoff = 50 * time.Millisecond

// Run runs the clients until stop ends, then waits for each to finish its
// operation in flight (at most OperationTimeout). Operations are added to
// recorder with times from clock.
func Run(stop context.Context, config Config, clock *history.Clock, recorder *history.Recorder) error {
	if config.Clients < 1 || len(config.Endpoints) == 0 || len(config.Keys) == 0 {
		return fmt.Errorf("workload: need clients, endpoints and keys (have %d, %d, %d)",
			config.Clients, len(config.Endpoints), len(config.Keys))
	}
	workers := make([]*worker, 0, config.Clients)
	defer func() {
		for _, worker := range workers {
			worker.client.Close()
		}
	}()
	for index := range config.Clients {
		endpoint := config.Endpoints[index%len(config.Endpoints)]
		client, err := cluster.NewClient(endpoint)
		if err != nil {
			return fmt.Errorf("workload: client %d: %w", index, err)
		}
		workers = append(workers, &worker{
			id:       index,
			client:   client,
			endpoint: endpoint,
			random:   rand.New(rand.NewPCG(uint64(config.Seed), uint64(index))),
			keys:     config.Keys,
			known:    map[string]knowledge{},
			timeout:  config.OperationTimeout,
			stale:    config.SerializableReads,
			clock:    clock,
			recorder: recorder,
		})
	}
	var running sync.WaitGroup
	for _, worker := range workers {
		running.Add(1)
		go func() {
			defer running.Done()
			worker.run(stop)
		}()
	}
	running.Wait()
	return nil
}
