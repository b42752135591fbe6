package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/history"
)

// finalReadRetryInterval spaces the attempts of a final read that failed.
const finalReadRetryInterval = 100 * time.Millisecond

// FinalReads reads every key through every endpoint after the faults are
// healed and the clients stopped, recording each read as a Final
// operation of client firstClient+endpoint index. Checked with the rest of
// the history, they prove that no acknowledged write is missing and that
// every member serves the same, latest values. A read that fails is
// retried until ctx ends, which is an error.
func FinalReads(ctx context.Context, endpoints, keys []string, firstClient int, timeout time.Duration,
	clock *history.Clock, recorder *history.Recorder) error {
	for index, endpoint := range endpoints {
		client, err := cluster.NewClient(endpoint)
		if err != nil {
			return err
		}
		reader := &worker{id: firstClient + index, client: client, endpoint: endpoint, known: map[string]knowledge{},
			timeout: timeout, clock: clock, recorder: recorder}
		err = reader.readAll(ctx, keys)
		client.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (worker *worker) readAll(ctx context.Context, keys []string) error {
	for _, key := range keys {
		for {
			operation := worker.execute(history.Operation{Client: worker.id, Kind: history.Get, Key: key,
				Endpoint: worker.endpoint, Final: true})
			if operation.Outcome == history.Ok {
				worker.recorder.Add(operation)
				break
			}
			timer := time.NewTimer(finalReadRetryInterval)
			select {
			case <-ctx.Done():
				timer.Stop()
				return fmt.Errorf("workload: final read of %s through %s: %s (%w)", key, worker.endpoint, operation.Error, ctx.Err())
			case <-timer.C:
			}
		}
	}
	return nil
}
