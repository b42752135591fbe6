// Package watch records a watch stream opened before the workload starts
// and checks what porcupine cannot see: that the stream delivered every
// revision once and in order, and that it agrees with what clients were
// told (acknowledged writes, values read with their revisions). It also
// settles ambiguous writes from the stream.
package watch

import (
	"context"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lockstepdb/lockstep/check/cluster"
	"github.com/lockstepdb/lockstep/check/history"
)

// Event is one key change as the watch delivered it.
type Event struct {
	Revision int64  `json:"revision"`
	Type     string `json:"type"`
	Key      string `json:"key"`
	Value    string `json:"value,omitempty"`
	// Received is when the checker received it (run clock).
	Received int64 `json:"received_ns"`
}

// Recorder keeps one watch on a key prefix open from a starting revision,
// reopening it from the next expected revision if the server cancels it.
// Safe for concurrent use.
type Recorder struct {
	client *clientv3.Client
	clock  *history.Clock
	cancel context.CancelFunc
	done   chan struct{}

	mutex    sync.Mutex
	events   []Event
	next     int64 // the revision the watch resumes from
	reopened int
	errors   []string
	progress chan struct{} // closed and replaced on every new event
}

// Start opens a watch on every key under prefix from revision from,
// through a client that knows every endpoint (so it survives the loss of
// any one member). Stop ends it.
func Start(endpoints []string, prefix string, from int64, clock *history.Clock) (*Recorder, error) {
	client, err := cluster.NewClient(endpoints...)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	recorder := &Recorder{client: client, clock: clock, cancel: cancel, done: make(chan struct{}),
		next: from, progress: make(chan struct{})}
	go recorder.run(ctx, prefix)
	return recorder, nil
}

func (recorder *Recorder) run(ctx context.Context, prefix string) {
	defer close(recorder.done)
	for ctx.Err() == nil {
		recorder.mutex.Lock()
		from := recorder.next
		recorder.mutex.Unlock()
		for response := range recorder.client.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from)) {
			if err := response.Err(); err != nil {
				recorder.noteError(err)
				continue
			}
			recorder.append(response.Events)
		}
		if ctx.Err() == nil {
			recorder.mutex.Lock()
			recorder.reopened++
			recorder.mutex.Unlock()
		}
	}
}

func (recorder *Recorder) append(events []*clientv3.Event) {
	received := recorder.clock.Now()
	recorder.mutex.Lock()
	defer recorder.mutex.Unlock()
	for _, event := range events {
		recorded := Event{Revision: event.Kv.ModRevision, Type: event.Type.String(), Key: string(event.Kv.Key),
			Value: string(event.Kv.Value), Received: received}
		recorder.events = append(recorder.events, recorded)
		if recorded.Revision >= recorder.next {
			recorder.next = recorded.Revision + 1
		}
	}
	close(recorder.progress)
	recorder.progress = make(chan struct{})
}

func (recorder *Recorder) noteError(err error) {
	recorder.mutex.Lock()
	defer recorder.mutex.Unlock()
	recorder.errors = append(recorder.errors, err.Error())
}

// WaitFor waits until the watch has delivered revision (or a later one),
// or ctx ends.
func (recorder *Recorder) WaitFor(ctx context.Context, revision int64) error {
	for {
		recorder.mutex.Lock()
		reached, progress := recorder.next > revision, recorder.progress
		recorder.mutex.Unlock()
		if reached {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("watch: revision %d not delivered: %w", revision, ctx.Err())
		case <-progress:
		}
	}
}

// Stop closes the watch and returns every event delivered, in delivery
// order, with the errors the stream reported and how often it was reopened.
func (recorder *Recorder) Stop() (events []Event, errors []string, reopened int) {
	recorder.cancel()
	<-recorder.done
	recorder.client.Close()
	recorder.mutex.Lock()
	defer recorder.mutex.Unlock()
	return append([]Event(nil), recorder.events...), append([]string(nil), recorder.errors...), recorder.reopened
}
