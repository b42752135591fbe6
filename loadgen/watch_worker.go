package loadgen

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// sighting is one event (or error) the watcher received, stamped when the
// watching goroutine received it.
type sighting struct {
	revision int64
	at       time.Time
	err      error
}

// watchWorker puts its own key and waits until its own watch on that key
// delivers the put's revision; the operation's latency runs from before
// the put to the moment the watching goroutine received the event (which
// may be before the put's response arrives).
type watchWorker struct {
	client    *clientv3.Client
	key       string
	value     string
	sightings chan sighting
}

// newWatchWorker opens the watch on key (waiting for the server to
// confirm it, at most config.DialTimeout) and starts the goroutine that
// receives its events until runContext is done.
func newWatchWorker(runContext context.Context, config Config, client *clientv3.Client, key, value string) (*watchWorker, error) {
	w := &watchWorker{client: client, key: key, value: value, sightings: make(chan sighting, 16)}
	channel := client.Watch(runContext, key, clientv3.WithCreatedNotify())
	timer := time.NewTimer(config.DialTimeout)
	defer timer.Stop()
	select {
	case response, open := <-channel:
		if !open {
			return nil, fmt.Errorf("watch-latency: the watch on %q closed before it was confirmed", key)
		}
		if err := response.Err(); err != nil {
			return nil, fmt.Errorf("watch-latency: opening the watch on %q: %w", key, err)
		}
	case <-timer.C:
		return nil, fmt.Errorf("watch-latency: the watch on %q was not confirmed within %v", key, config.DialTimeout)
	case <-runContext.Done():
		return nil, runContext.Err()
	}
	go w.receive(runContext, channel)
	return w, nil
}

// receive forwards the watch's events to sightings until ctx is done. If
// the server closes the watch, it is reopened after the last revision
// received, so no event of a later put is lost.
func (w *watchWorker) receive(ctx context.Context, channel clientv3.WatchChan) {
	var last int64
	for ctx.Err() == nil {
		for response := range channel {
			if err := response.Err(); err != nil {
				if !w.send(ctx, sighting{err: err}) {
					return
				}
				if response.CompactRevision > last {
					last = response.CompactRevision - 1
				}
				continue
			}
			at := time.Now()
			for _, event := range response.Events {
				last = max(last, event.Kv.ModRevision)
				if !w.send(ctx, sighting{revision: event.Kv.ModRevision, at: at}) {
					return
				}
			}
		}
		channel = w.client.Watch(ctx, w.key, clientv3.WithRev(last+1))
	}
}

// send delivers s to the worker, or reports false when ctx is done.
func (w *watchWorker) send(ctx context.Context, s sighting) bool {
	select {
	case w.sightings <- s:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *watchWorker) do(ctx context.Context) outcome {
	response, err := w.client.Put(ctx, w.key, w.value)
	if err != nil {
		return outcome{err: err}
	}
	want := response.Header.Revision
	for {
		select {
		case s := <-w.sightings:
			if s.err != nil {
				return outcome{err: fmt.Errorf("watch: %w", s.err)}
			}
			// Earlier revisions are events of puts that timed out
			// and were applied after all.
			if s.revision >= want {
				return outcome{finished: s.at}
			}
		case <-ctx.Done():
			return outcome{err: ctx.Err()}
		}
	}
}
