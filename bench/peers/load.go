package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"
)

const commandBytes = 256

// phaseResult is what one timed phase measured.
type phaseResult struct {
	ops       int             // commands whose apply returned without error inside the window
	errors    int             // applies that returned an error inside the window
	window    time.Duration   // the measured window
	latencies []time.Duration // one per op, unsorted
}

func (r phaseResult) opsPerSecond() float64 { return float64(r.ops) / r.window.Seconds() }

// maxOpsPerApplier bounds each applier's loop (and its latency slice) by
// count, on top of the bound by time.
const maxOpsPerApplier = 20_000_000

// runPhase drives c with appliers concurrent appliers, each applying one
// 256-byte command at a time. It runs for warmup (not measured), then
// for duration: an op counts if it completes inside that window; its latency
// is from the call to the return. No op starts after the window; the ops
// still in flight then are waited for (at most drainTimeout) and not counted.
func runPhase(ctx context.Context, c cluster, appliers int, warmup, duration time.Duration) (phaseResult, error) {
	const drainTimeout = 60 * time.Second
	start := time.Now()
	windowStart := start.Add(warmup)
	windowEnd := windowStart.Add(duration)
	// Every apply gives up at this deadline: no loop outlives the phase by
	// more than drainTimeout.
	opCtx, cancel := context.WithDeadline(ctx, windowEnd.Add(drainTimeout))
	defer cancel()

	type tally struct {
		ops, errors int
		latencies   []time.Duration
	}
	tallies := make([]tally, appliers)
	var wg sync.WaitGroup
	for w := range appliers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := &tallies[w]
			t.latencies = make([]time.Duration, 0, 1024)
			template := make([]byte, commandBytes)
			for i := range template {
				template[i] = byte(w + i)
			}
			for seq := uint64(0); seq < maxOpsPerApplier; seq++ {
				begin := time.Now()
				if !begin.Before(windowEnd) || opCtx.Err() != nil {
					return
				}
				// A fresh command each time: both libraries keep the slice
				// (in their in-memory logs) after apply returns.
				command := make([]byte, commandBytes)
				copy(command, template)
				binary.BigEndian.PutUint64(command, uint64(w)<<32|seq)
				err := c.apply(opCtx, command)
				end := time.Now()
				inWindow := !end.Before(windowStart) && end.Before(windowEnd)
				switch {
				case err != nil && inWindow:
					t.errors++
				case err == nil && inWindow:
					t.ops++
					t.latencies = append(t.latencies, end.Sub(begin))
				}
				if err != nil {
					time.Sleep(10 * time.Millisecond) // no hot loop on a failing cluster
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(windowEnd) + drainTimeout + 5*time.Second):
		return phaseResult{}, fmt.Errorf("appliers still running %v after the window", drainTimeout)
	}
	result := phaseResult{window: duration}
	for _, t := range tallies {
		result.ops += t.ops
		result.errors += t.errors
		result.latencies = append(result.latencies, t.latencies...)
	}
	return result, nil
}

// percentile returns the q-quantile (0 <= q <= 1) of sorted, by the
// nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted)) + 0.5)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Clone(values)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
