package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// outcome is what one operation did.
type outcome struct {
	err error
	// kind names the operation in mixed ("put" or "range"); empty otherwise.
	kind string
	// failedCompare: a txn-put whose compare failed (another client wrote
	// the key since this one last saw it); the operation itself succeeded.
	failedCompare bool
	// finished, when set, is when the operation really ended (the watcher
	// saw the event), earlier than when the worker noticed.
	finished time.Time
}

// worker performs a workload's operations, one at a time, on one
// goroutine. do must return when ctx is done.
type worker interface {
	do(ctx context.Context) outcome
}

// sharedState is what the workers of one run share.
type sharedState struct {
	keys       keyFormat
	value      string
	keyCounter atomic.Uint64 // next key index of sequential choosers
	// lastSeen is the mod revision txn-put last saw for each key index.
	lastSeen []atomic.Int64
	// fanout holds watch-fanout's watches; nil for the other workloads.
	fanout *fanout
}

func newSharedState(config Config) *sharedState {
	shared := &sharedState{keys: keyFormat{size: config.KeySize}, value: makeValue(config.ValueSize)}
	if config.Workload == WorkloadTxnPut {
		shared.lastSeen = make([]atomic.Int64, config.KeySpace)
	}
	return shared
}

// newWorker returns worker number id of the run, using client. A
// watch-latency worker opens its watch here, within config.DialTimeout,
// and keeps it until runContext is done.
func newWorker(runContext context.Context, config Config, id int, client *clientv3.Client, shared *sharedState) (worker, error) {
	chooser := newKeyChooser(config, id, &shared.keyCounter)
	put := &putWorker{client: client, chooser: chooser, shared: shared}
	reads := &rangeWorker{client: client, chooser: chooser, shared: shared}
	if config.Consistency == Serializable {
		reads.options = []clientv3.OpOption{clientv3.WithSerializable()}
	}
	switch config.Workload {
	case WorkloadPut:
		return put, nil
	case WorkloadRange:
		return reads, nil
	case WorkloadTxnPut:
		return &txnPutWorker{client: client, chooser: chooser, shared: shared}, nil
	case WorkloadMixed:
		return &mixedWorker{put: put, reads: reads, readRatio: config.ReadRatio,
			random: rand.New(rand.NewPCG(config.Seed^0x5eed, uint64(id)))}, nil
	case WorkloadWatchLatency:
		return newWatchWorker(runContext, config, client, shared.keys.key(id), shared.value)
	case WorkloadWatchFanout:
		return &fanoutWriter{client: client, chooser: chooser, shared: shared}, nil
	}
	return nil, fmt.Errorf("unknown workload %q", config.Workload)
}

// putWorker puts a value on a chosen key.
type putWorker struct {
	client  *clientv3.Client
	chooser keyChooser
	shared  *sharedState
}

func (w *putWorker) do(ctx context.Context) outcome {
	_, err := w.client.Put(ctx, w.shared.keys.key(w.chooser.choose()), w.shared.value)
	return outcome{err: err, kind: "put"}
}

// rangeWorker reads a chosen key.
type rangeWorker struct {
	client  *clientv3.Client
	chooser keyChooser
	shared  *sharedState
	options []clientv3.OpOption
}

func (w *rangeWorker) do(ctx context.Context) outcome {
	_, err := w.client.Get(ctx, w.shared.keys.key(w.chooser.choose()), w.options...)
	return outcome{err: err, kind: "range"}
}

// mixedWorker reads with probability readRatio, else puts.
type mixedWorker struct {
	put       *putWorker
	reads     *rangeWorker
	readRatio float64
	random    *rand.Rand
}

func (w *mixedWorker) do(ctx context.Context) outcome {
	if w.random.Float64() < w.readRatio {
		return w.reads.do(ctx)
	}
	return w.put.do(ctx)
}

// txnPutWorker is a compare-and-swap: a Txn that puts the key if its mod
// revision is still the one last seen (by any worker), and otherwise reads
// it to learn the current one.
type txnPutWorker struct {
	client  *clientv3.Client
	chooser keyChooser
	shared  *sharedState
}

func (w *txnPutWorker) do(ctx context.Context) outcome {
	index := w.chooser.choose()
	key := w.shared.keys.key(index)
	seen := &w.shared.lastSeen[index]
	response, err := w.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", seen.Load())).
		Then(clientv3.OpPut(key, w.shared.value)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return outcome{err: err}
	}
	if response.Succeeded {
		// A transaction's writes all carry the revision of its header.
		seen.Store(response.Header.Revision)
		return outcome{}
	}
	var current int64
	if ranges := response.Responses; len(ranges) > 0 {
		if kvs := ranges[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			current = kvs[0].ModRevision
		}
	}
	seen.Store(current)
	return outcome{failedCompare: true}
}
