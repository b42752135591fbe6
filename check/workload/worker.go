package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/check/history"
)

// knowledge is what a client last learned about a key: its value ("" when
// absent) and the mod revision that goes with it (0 when absent).
type knowledge struct {
	value    string
	revision int64
}

// worker is one client. It is used by one goroutine.
type worker struct {
	id       int
	client   *clientv3.Client
	endpoint string
	random   *rand.Rand
	keys     []string
	known    map[string]knowledge
	sequence int
	timeout  time.Duration
	stale    bool // serializable gets (see Config.SerializableReads)
	clock    *history.Clock
	recorder *history.Recorder
}

func (worker *worker) run(stop context.Context) {
	for stop.Err() == nil {
		operation := worker.execute(worker.next())
		worker.recorder.Add(operation)
		if operation.Outcome != history.Ok {
			timer := time.NewTimer(failureBackoff)
			select {
			case <-stop.Done():
			case <-timer.C:
			}
			timer.Stop()
		}
	}
}

// next chooses an operation: 40% gets, 30% puts, 30% compare-and-swaps.
func (worker *worker) next() history.Operation {
	operation := history.Operation{
		Client:   worker.id,
		Key:      worker.keys[worker.random.IntN(len(worker.keys))],
		Endpoint: worker.endpoint,
	}
	roll := worker.random.IntN(100)
	if roll < 40 {
		operation.Kind = history.Get
		return operation
	}
	worker.sequence++
	operation.Value = fmt.Sprintf("%d-%d", worker.id, worker.sequence)
	if roll < 70 {
		operation.Kind = history.Put
		return operation
	}
	operation.Kind = history.CompareAndSwap
	known, ok := worker.known[operation.Key]
	switch {
	case !ok:
		// Nothing known: create the key if it does not exist yet.
		operation.Compare, operation.ExpectedValue, operation.ExpectedRevision = history.CompareModRevision, "", 0
	case known.value != "" && worker.random.IntN(2) == 0:
		operation.Compare, operation.ExpectedValue = history.CompareValue, known.value
	default:
		operation.Compare, operation.ExpectedValue, operation.ExpectedRevision = history.CompareModRevision, known.value, known.revision
	}
	return operation
}

// execute performs the operation and fills in its times and outcome.
func (worker *worker) execute(operation history.Operation) history.Operation {
	ctx, cancel := context.WithTimeout(context.Background(), worker.timeout)
	defer cancel()
	operation.Call = worker.clock.Now()
	var err error
	switch operation.Kind {
	case history.Get:
		err = worker.get(ctx, &operation)
	case history.Put:
		err = worker.put(ctx, &operation)
	case history.CompareAndSwap:
		err = worker.compareAndSwap(ctx, &operation)
	}
	operation.Return = worker.clock.Now()
	if err == nil {
		operation.Outcome = history.Ok
		return operation
	}
	operation.Error = err.Error()
	if operation.IsWrite() {
		// The write may have been applied: only the watch can tell.
		operation.Outcome, operation.Return = history.Ambiguous, history.Infinity
		delete(worker.known, operation.Key)
	} else {
		operation.Outcome = history.Failed
	}
	return operation
}

func (worker *worker) get(ctx context.Context, operation *history.Operation) error {
	var options []clientv3.OpOption
	if worker.stale {
		options = append(options, clientv3.WithSerializable())
	}
	response, err := worker.client.Get(ctx, operation.Key, options...)
	if err != nil {
		return err
	}
	operation.Revision = response.Header.Revision
	if len(response.Kvs) > 0 {
		operation.ReadValue, operation.ModRevision = string(response.Kvs[0].Value), response.Kvs[0].ModRevision
	}
	worker.known[operation.Key] = knowledge{operation.ReadValue, operation.ModRevision}
	return nil
}

func (worker *worker) put(ctx context.Context, operation *history.Operation) error {
	response, err := worker.client.Put(ctx, operation.Key, operation.Value)
	if err != nil {
		return err
	}
	operation.Revision = response.Header.Revision
	worker.known[operation.Key] = knowledge{operation.Value, operation.Revision}
	return nil
}

func (worker *worker) compareAndSwap(ctx context.Context, operation *history.Operation) error {
	condition := clientv3.Compare(clientv3.Value(operation.Key), "=", operation.ExpectedValue)
	if operation.Compare == history.CompareModRevision {
		condition = clientv3.Compare(clientv3.ModRevision(operation.Key), "=", operation.ExpectedRevision)
	}
	response, err := worker.client.Txn(ctx).
		If(condition).
		Then(clientv3.OpPut(operation.Key, operation.Value)).
		Else(clientv3.OpGet(operation.Key)).
		Commit()
	if err != nil {
		return err
	}
	operation.Revision, operation.Succeeded = response.Header.Revision, response.Succeeded
	if response.Succeeded {
		worker.known[operation.Key] = knowledge{operation.Value, operation.Revision}
		return nil
	}
	if len(response.Responses) != 1 || response.Responses[0].GetResponseRange() == nil {
		return fmt.Errorf("workload: compare-and-swap on %s: else branch returned %d responses, want one range", operation.Key, len(response.Responses))
	}
	kvs := response.Responses[0].GetResponseRange().Kvs
	if len(kvs) > 0 {
		operation.ReadValue, operation.ModRevision = string(kvs[0].Value), kvs[0].ModRevision
	}
	worker.known[operation.Key] = knowledge{operation.ReadValue, operation.ModRevision}
	return nil
}
