package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Run sends config's workload to its endpoints and returns the measured
// result. It returns an error, without running anything, when the
// configuration is invalid, when no endpoint answers at the start, when
// --target-leader finds no leader, or when watch-latency cannot open its
// watches; after that, failed operations are counted, never fatal. ctx
// ends the run early (the result then says "interrupted"). Run may be
// called from any goroutine; config.Progress is called from one goroutine
// Run starts.
func Run(ctx context.Context, config Config) (*Result, error) {
	if err := config.Validate(); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	tlsConfig, err := config.TLS.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	statuses := probeEndpoints(ctx, config.Endpoints, tlsConfig, config.DialTimeout, config.User)
	endpoints, unreachable, err := chooseEndpoints(statuses, config.TargetLeader)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	pool, err := openConnections(config, endpoints, tlsConfig)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	defer pool.close()

	reporter := newProgressReporter(config.Progress)
	defer reporter.stop()
	if config.Workload == WorkloadBigStore {
		return runBigStore(ctx, config, pool, reporter, endpoints, unreachable)
	}
	return runStage(ctx, config, pool, reporter, endpoints, unreachable, "")
}

// runStage runs one workload (or one stage of big-store) on the open
// connections: the prefill if it reads, then the warm-up and the measured
// phase.
func runStage(ctx context.Context, config Config, pool *connectionPool, reporter *progressReporter, endpoints, unreachable []string, stage string) (*Result, error) {
	shared := newSharedState(config)
	result := newResult(config, endpoints, unreachable)
	result.Stage = stage
	if config.Prefill && config.Workload.reads() {
		began := time.Now()
		result.PrefillErrors, result.PrefillErrorsByKind = prefill(ctx, config, pool, shared, reporter, stage)
		result.PrefillSeconds = time.Since(began).Seconds()
	}
	if err := measure(ctx, config, pool, shared, reporter, result, stage); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	return result, nil
}

// measure runs the workers through the warm-up and the measured phase and
// fills result.
func measure(ctx context.Context, config Config, pool *connectionPool, shared *sharedState, reporter *progressReporter, result *Result, stage string) error {
	workersContext, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	if config.Workload == WorkloadWatchFanout {
		var err error
		if shared.fanout, err = openFanout(workersContext, config, pool, shared.keys); err != nil {
			return err
		}
	}
	workers := make([]worker, config.Clients)
	for id := range workers {
		var err error
		if workers[id], err = newWorker(workersContext, config, id, pool.forWorker(id), shared); err != nil {
			return err
		}
	}

	start := time.Now()
	measureStart := start.Add(config.Warmup)
	runContext, cancel := context.WithCancel(workersContext)
	if config.Duration > 0 {
		runContext, cancel = context.WithDeadline(workersContext, measureStart.Add(config.Duration))
	}
	defer cancel()
	run := &measurement{config: config, measureStart: measureStart, tally: newTally(config.Workload)}
	var events *atomic.Int64
	if fan := shared.fanout; fan != nil {
		deadline, _ := runContext.Deadline()
		fan.measure(measureStart, deadline, run.tally)
		events = &fan.measured
	}
	// beginMeasure starts the measured phase's reports and the caller's
	// window, which ends once the workers have stopped.
	beginMeasure := func() {
		reporter.begin(PhaseMeasure, measureStart, &run.tally.done, &run.tally.errorCount, stage, 0, events)
		if config.OnMeasure != nil {
			config.OnMeasure(stage, true)
		}
	}
	var began chan struct{} // closed once beginMeasure has returned
	var switchPhase *time.Timer
	if config.Warmup > 0 {
		reporter.begin(PhaseWarmup, start, &run.warmupDone, &run.warmupErrors, stage, 0, nil)
		began = make(chan struct{})
		switchPhase = time.AfterFunc(config.Warmup, func() {
			defer close(began)
			beginMeasure()
		})
	} else {
		beginMeasure()
	}
	var group sync.WaitGroup
	for _, w := range workers {
		group.Add(1)
		go func() {
			defer group.Done()
			run.work(runContext, w)
		}()
	}
	group.Wait()
	end := time.Now()
	if deadline, ok := runContext.Deadline(); ok && end.After(deadline) {
		end = deadline
	}
	// The measured phase began unless the run ended in the warm-up (the
	// timer is then stopped before it fires).
	if switchPhase == nil || !switchPhase.Stop() {
		if began != nil {
			<-began
		}
		if config.OnMeasure != nil {
			config.OnMeasure(stage, false)
		}
	}
	result.fill(run.tally, end.Sub(measureStart), run.stoppedBy(ctx, runContext))
	if fan := shared.fanout; fan != nil {
		fan.close(end)
		fan.fill(result, end.Sub(measureStart))
	}
	// The last report of the phase gives the final counts, as of its end.
	reporter.begin(PhaseMeasure, measureStart, &run.tally.done, &run.tally.errorCount, stage, 0, events)
	reporter.freeze(end)
	return nil
}

// measurement is the state of one run's workers.
//
// An operation belongs to the measured phase if it ends in it, wherever it
// began: with closed-loop clients, counting only operations that begin in
// the phase would leave its first moments nearly empty (every client still
// busy with a warm-up operation) and understate the throughput of a short
// run by up to one latency over the duration. With Total, an operation
// that begins in the measured phase takes a ticket before it is sent, so
// no more than Total requests are sent in the phase (exactly Total without
// a warm-up); one carried over from the warm-up takes a ticket when it
// ends, and is dropped if none is left.
type measurement struct {
	config       Config
	measureStart time.Time
	tickets      atomic.Int64 // measured operations, for Total
	warmupDone   atomic.Int64
	warmupErrors atomic.Int64
	tally        *tally
}

// work runs w's operations until ctx is done or the tickets run out. An
// operation that the end of the run interrupts, or that ends after it, is
// not counted.
func (m *measurement) work(ctx context.Context, w worker) {
	deadline, hasDeadline := ctx.Deadline()
	for ctx.Err() == nil {
		begin := time.Now()
		ticketed := m.config.Total > 0 && !begin.Before(m.measureStart)
		if ticketed && m.tickets.Add(1) > m.config.Total {
			return
		}
		operationContext, cancel := context.WithTimeout(ctx, m.config.OperationTimeout)
		result := w.do(operationContext)
		cancel()
		end := time.Now()
		if !result.finished.IsZero() {
			end = result.finished
		}
		switch {
		case ctx.Err() != nil || (hasDeadline && end.After(deadline)):
			return
		case end.Before(m.measureStart):
			m.warmupDone.Add(1)
			if result.err != nil {
				m.warmupErrors.Add(1)
			}
			continue
		case m.config.Total > 0 && !ticketed && m.tickets.Add(1) > m.config.Total:
			return
		}
		m.tally.record(result, end.Sub(begin))
	}
}

// stoppedBy says why the measured phase ended.
func (m *measurement) stoppedBy(parent, run context.Context) string {
	switch {
	case parent.Err() != nil:
		return "interrupted"
	case m.config.Total > 0 && m.tickets.Load() >= m.config.Total:
		return "total"
	case run.Err() != nil:
		return "duration"
	}
	// The workers stop on their own once an operation ends past the
	// deadline, which can be before the context's timer has fired.
	if deadline, ok := run.Deadline(); ok && !time.Now().Before(deadline) {
		return "duration"
	}
	return "interrupted"
}

// tally accumulates the measured operations. Safe for concurrent use.
type tally struct {
	latencies      *Histogram
	byKind         map[string]*Histogram // mixed only; fixed keys, so read without a lock
	errors         errorCounter
	done           atomic.Int64 // finished, with or without error
	errorCount     atomic.Int64
	failedCompares atomic.Int64
}

func newTally(workload Workload) *tally {
	t := &tally{latencies: NewHistogram()}
	if workload == WorkloadMixed {
		t.byKind = map[string]*Histogram{"put": NewHistogram(), "range": NewHistogram()}
	}
	return t
}

// record counts one measured operation that took latency.
func (t *tally) record(result outcome, latency time.Duration) {
	t.done.Add(1)
	if result.err != nil {
		t.errorCount.Add(1)
		t.errors.add(result.err)
		return
	}
	if result.failedCompare {
		t.failedCompares.Add(1)
	}
	t.latencies.Record(latency)
	if histogram := t.byKind[result.kind]; histogram != nil {
		histogram.Record(latency)
	}
}

// prefillBatch is the number of puts per prefill transaction: etcd's
// default limit of operations in one Txn.
const prefillBatch = 128

// prefill writes every key of the key space once, in transactions of
// prefillBatch puts spread over the connections, and returns the number of
// transactions that failed and their counts by kind. It stops early when
// ctx is done.
func prefill(ctx context.Context, config Config, pool *connectionPool, shared *sharedState, reporter *progressReporter, stage string) (int64, map[string]int64) {
	batches := (config.KeySpace + prefillBatch - 1) / prefillBatch
	var next, done, failed atomic.Int64
	var kinds errorCounter
	reporter.begin(PhasePrefill, time.Now(), &done, &failed, stage, int64(config.KeySpace), nil)
	var group sync.WaitGroup
	for writer := range min(config.Clients, batches, 32) {
		group.Add(1)
		go func() {
			defer group.Done()
			client := pool.forWorker(writer)
			for batch := int(next.Add(1) - 1); batch < batches && ctx.Err() == nil; batch = int(next.Add(1) - 1) {
				first, last := batch*prefillBatch, min((batch+1)*prefillBatch, config.KeySpace)
				puts := make([]clientv3.Op, 0, last-first)
				for index := first; index < last; index++ {
					puts = append(puts, clientv3.OpPut(shared.keys.key(index), shared.value))
				}
				batchContext, cancel := context.WithTimeout(ctx, config.OperationTimeout)
				_, err := client.Txn(batchContext).Then(puts...).Commit()
				cancel()
				if err != nil {
					failed.Add(1)
					kinds.add(err)
				}
				done.Add(int64(last - first))
			}
		}()
	}
	group.Wait()
	reporter.freeze(time.Now()) // the prefill's final counts
	return failed.Load(), kinds.counts()
}
