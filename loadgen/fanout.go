package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// fanout is the watch-fanout workload's side of the watches: Streams gRPC
// Watch streams (stream s on connection s mod Connections), Watchers
// watches spread over them in turn, every watch on the whole range of the
// writers' keys (a range watch, as a prefix watch is). One goroutine per
// stream receives its events; nothing is done per watcher on the client,
// so the load generator's cost stays far below the server's.
//
// Every value a writer puts starts with the time it was sent (nanoseconds
// since epoch, in fixed-width hex), so each event's delivery latency, from
// the put's sending to the event's receipt, is known on arrival whatever
// the order of events and responses.
type fanout struct {
	watchers int
	epoch    time.Time
	// delivered counts every event received; expected, the events the
	// writers' successful puts owe (watchers per put).
	delivered, expected atomic.Int64
	// measured counts the events received in the measured window, and
	// deliveries holds their latencies.
	measured   atomic.Int64
	deliveries *Histogram
	window     atomic.Pointer[fanoutWindow]

	waitMutex sync.Mutex
	waiters   []fanoutWaiter
}

// fanoutWindow is the measured window: events received in [start, end]
// are measured (a zero end: not yet known), and failures are counted in
// tally.
type fanoutWindow struct {
	start, end time.Time
	tally      *tally
}

// fanoutWaiter is a writer waiting until delivered reaches target; done
// receives the time it did.
type fanoutWaiter struct {
	target int64
	done   chan time.Time
}

// fanoutRangeEnd returns the end of the watched range: just after the last
// key of the key space, so that every writer's key is in it.
func fanoutRangeEnd(keys keyFormat, keySpace int) string {
	return keys.key(keySpace-1) + "\x00"
}

// openFanout opens the streams and their watches, waiting (each stream at
// most config.DialTimeout) until the server has confirmed every watch, and
// starts the receiving goroutines, which stop when ctx is done.
func openFanout(ctx context.Context, config Config, pool *connectionPool, keys keyFormat) (*fanout, error) {
	f := &fanout{watchers: config.Watchers, epoch: time.Now(), deliveries: NewHistogram()}
	streams := make([]pb.Watch_WatchClient, config.Streams)
	problems := make([]error, config.Streams)
	var group sync.WaitGroup
	for s := range config.Streams {
		watches := config.Watchers / config.Streams
		if s < config.Watchers%config.Streams {
			watches++
		}
		group.Add(1)
		go func() {
			defer group.Done()
			client := pool.clients[s%len(pool.clients)]
			streams[s], problems[s] = openFanoutStream(ctx, client, watches, keys.key(0), fanoutRangeEnd(keys, config.KeySpace), config.DialTimeout)
		}()
	}
	group.Wait()
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("watch-fanout: %w", err)
	}
	for _, stream := range streams {
		go f.receive(ctx, stream)
	}
	return f, nil
}

// openFanoutStream opens one Watch stream with watches watches on [key,
// end) and waits until all are confirmed.
func openFanoutStream(ctx context.Context, client *clientv3.Client, watches int, key, end string, timeout time.Duration) (pb.Watch_WatchClient, error) {
	stream, err := pb.NewWatchClient(client.ActiveConnection()).Watch(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening a watch stream: %w", err)
	}
	for range watches {
		request := &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte(key), RangeEnd: []byte(end)}}}
		if err := stream.Send(request); err != nil {
			return nil, fmt.Errorf("creating a watch: %w", err)
		}
	}
	confirmed := make(chan error, 1)
	go func() {
		for created := 0; created < watches; {
			response, err := stream.Recv()
			if err != nil {
				confirmed <- fmt.Errorf("waiting for the watches to be confirmed: %w", err)
				return
			}
			if response.Canceled {
				confirmed <- fmt.Errorf("the server cancelled a new watch: %s", response.CancelReason)
				return
			}
			if response.Created {
				created++
			}
		}
		confirmed <- nil
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-confirmed:
		return stream, err
	case <-timer.C:
		return nil, fmt.Errorf("%d watches were not all confirmed within %v", watches, timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// receive counts and times the events of one stream until ctx is done. A
// watch the server cancels, or a stream that fails, is counted as an
// error in the measured window's tally (the writers then wait for events
// that will not come, and time out).
func (f *fanout) receive(ctx context.Context, stream pb.Watch_WatchClient) {
	for {
		response, err := stream.Recv()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			f.fail(fmt.Errorf("watch stream: %w", err))
			return
		}
		if response.Canceled {
			f.fail(fmt.Errorf("watch cancelled: %s", response.CancelReason))
			continue
		}
		if len(response.Events) == 0 {
			continue
		}
		at := time.Now()
		window := f.window.Load()
		counted := window.contains(at)
		for _, event := range response.Events {
			if !counted {
				continue
			}
			f.measured.Add(1)
			if sent, ok := f.sentAt(event.Kv.Value); ok {
				f.deliveries.Record(at.Sub(sent))
			}
		}
		f.deliver(int64(len(response.Events)), at)
	}
}

// fail counts err if it happens in the measured window.
func (f *fanout) fail(err error) {
	if window := f.window.Load(); window.contains(time.Now()) {
		window.tally.done.Add(1)
		window.tally.errorCount.Add(1)
		window.tally.errors.add(err)
	}
}

// contains reports whether at is in the window (false for no window).
func (w *fanoutWindow) contains(at time.Time) bool {
	return w != nil && !at.Before(w.start) && (w.end.IsZero() || !at.After(w.end))
}

// stamp returns value with the current time written over its first
// fanoutStampSize bytes.
func (f *fanout) stamp(value string) string {
	return fmt.Sprintf("%0*x", fanoutStampSize, uint64(time.Since(f.epoch))) + value[fanoutStampSize:]
}

// sentAt decodes a value's send time; false for a value not written by
// this run.
func (f *fanout) sentAt(value []byte) (time.Time, bool) {
	if len(value) < fanoutStampSize {
		return time.Time{}, false
	}
	nanoseconds, err := strconv.ParseUint(string(value[:fanoutStampSize]), 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	return f.epoch.Add(time.Duration(nanoseconds)), true
}

// deliver adds count received events and wakes the writers whose targets
// are reached.
func (f *fanout) deliver(count int64, at time.Time) {
	delivered := f.delivered.Add(count)
	f.waitMutex.Lock()
	defer f.waitMutex.Unlock()
	kept := f.waiters[:0]
	for _, waiter := range f.waiters {
		if waiter.target <= delivered {
			waiter.done <- at
		} else {
			kept = append(kept, waiter)
		}
	}
	f.waiters = kept
}

// await returns when target events have been delivered, with the time the
// last of them arrived, or ctx's error.
func (f *fanout) await(ctx context.Context, target int64) (time.Time, error) {
	f.waitMutex.Lock()
	if f.delivered.Load() >= target {
		f.waitMutex.Unlock()
		return time.Now(), nil
	}
	waiter := fanoutWaiter{target: target, done: make(chan time.Time, 1)}
	f.waiters = append(f.waiters, waiter)
	f.waitMutex.Unlock()
	select {
	case at := <-waiter.done:
		return at, nil
	case <-ctx.Done():
		f.waitMutex.Lock()
		for i, w := range f.waiters {
			if w.done == waiter.done {
				f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
				break
			}
		}
		f.waitMutex.Unlock()
		return time.Time{}, ctx.Err()
	}
}

// measure opens the measured window: events received from start to end
// (zero: until close) are measured, and failures counted in t.
func (f *fanout) measure(start, end time.Time, t *tally) {
	f.window.Store(&fanoutWindow{start: start, end: end, tally: t})
}

// close ends the measured window at end.
func (f *fanout) close(end time.Time) {
	if window := f.window.Load(); window != nil {
		closed := *window
		closed.end = end
		f.window.Store(&closed)
	}
}

// fill sets result's figures of the measured window: the events'
// deliveries are the headline latency, the puts' (each until every watcher
// had its event) the "fanout" kind.
func (f *fanout) fill(result *Result, elapsed time.Duration) {
	result.LatencyByKind = map[string]LatencySummary{"fanout": result.Latency}
	result.latencies = f.deliveries
	result.Latency = Summarize(f.deliveries)
	result.EventsDelivered = f.measured.Load()
	if elapsed > 0 {
		result.EventsPerSecond = float64(result.EventsDelivered) / elapsed.Seconds()
	}
	result.Histogram = binsOf(f.deliveries)
}

// fanoutWriter puts a stamped value on a chosen key, then waits until the
// watchers have received as many events as the successful puts so far
// owe them (watchers per put): at most about one put's events are in
// flight. Its latency runs from the put's sending until then.
type fanoutWriter struct {
	client  *clientv3.Client
	chooser keyChooser
	shared  *sharedState
}

func (w *fanoutWriter) do(ctx context.Context) outcome {
	f := w.shared.fanout
	if _, err := w.client.Put(ctx, w.shared.keys.key(w.chooser.choose()), f.stamp(w.shared.value)); err != nil {
		return outcome{err: err}
	}
	target := f.expected.Add(int64(f.watchers))
	at, err := f.await(ctx, target)
	if err != nil {
		return outcome{err: fmt.Errorf("waiting for the watchers: %w", err)}
	}
	return outcome{finished: at}
}
