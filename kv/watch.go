package kv

import (
	"bytes"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// WatchRequest describes a watch, as etcd's WatchCreateRequest.
type WatchRequest struct {
	// Key and RangeEnd select the keys: RangeEnd empty means Key alone,
	// "\x00" every key from Key on, otherwise [Key, RangeEnd).
	Key, RangeEnd []byte
	// StartRevision is the first revision whose events are delivered
	// (inclusive); 0 means the next revision.
	StartRevision int64
	// PrevKV adds to each event the key-value before it, when known.
	PrevKV bool
	// NoPut and NoDelete filter out puts and deletions.
	NoPut, NoDelete bool
	// Ready, if set, gets a signal, without blocking (a channel with a
	// buffer of one coalesces them), whenever a response is queued on the
	// watcher and when its channel closes: one goroutine can then serve
	// many watchers, reading each one's channel when signaled, instead of
	// one goroutine per watcher.
	Ready chan<- struct{}
}

// WatchResponse is a batch of events for one watcher.
type WatchResponse struct {
	// Events are all the matching events of one or more revisions, in
	// revision order; one revision is never split across two responses.
	// An empty list is a progress response (see Store.RequestProgress).
	// The list, its events and their key-values may be shared with other
	// watchers: treat them as read-only.
	Events []*mvccpb.Event
	// Revision is the store revision the response reflects.
	Revision int64
	// CompactRevision is the compacted revision when Canceled is set
	// because the watcher's next revision was compacted.
	CompactRevision int64
	// Canceled is the last response of a watcher whose next revision was
	// compacted away.
	Canceled bool
}

// Watcher delivers the events of one watch on its Responses channel.
// Apply never blocks on a watcher: one whose buffer is full stops
// receiving from Apply and catches up from the store in its own goroutine
// (it is "unsynced"), then rejoins; events arrive exactly once, in order.
type Watcher struct {
	hub                     *watchHub
	key, end                []byte // end nil: the key alone; "\x00": from key on
	prevKV, noPut, noDelete bool

	responses chan WatchResponse
	ready     chan<- struct{}
	done      chan struct{}
	closeOnce sync.Once

	sendMu sync.Mutex // held while sending on responses; guards closed
	closed bool

	// start is the StartRevision asked for (0: none). No progress
	// notification is given below it: a client resumes a watch from the
	// revision after the last progress it saw, so a notification at a
	// revision before start would make it ask, after a failover, for
	// events it never wanted (etcd issue 20221).
	start int64

	// Guarded by hub.mu.
	synced  bool
	removed bool
	minimum int64 // events below this revision are not delivered
	next    int64 // while unsynced: the next revision to deliver
}

// Watch creates a watcher. Events from StartRevision on are read from the
// store first, then delivered live as Apply makes them, with no gap and
// no duplicate; if StartRevision is compacted the watcher's only response
// is Canceled with the compacted revision. Callable from any goroutine;
// fails only on a closed store.
func (s *Store) Watch(request WatchRequest) (*Watcher, error) {
	watcher := &Watcher{
		hub:       s.watches,
		key:       bytes.Clone(request.Key),
		end:       bytes.Clone(rangeEnd(request.RangeEnd)),
		prevKV:    request.PrevKV,
		noPut:     request.NoPut,
		noDelete:  request.NoDelete,
		start:     request.StartRevision,
		ready:     request.Ready,
		responses: make(chan WatchResponse, s.options.WatchBufferSize),
		done:      make(chan struct{}),
	}
	if err := s.watches.add(watcher, request.StartRevision); err != nil {
		return nil, err
	}
	return watcher, nil
}

// Responses returns the channel of responses. It is closed after Close,
// after a Canceled response, and when the store closes.
func (w *Watcher) Responses() <-chan WatchResponse {
	return w.responses
}

// Close stops the watcher and closes its channel. Callable from any
// goroutine, more than once.
func (w *Watcher) Close() {
	w.closeOnce.Do(func() {
		w.hub.remove(w)
		close(w.done)
		w.sendMu.Lock()
		w.closed = true
		close(w.responses)
		w.sendMu.Unlock()
		w.signal()
	})
}

// Synced reports whether the watcher is caught up, and the revision it
// reflects. Caught up means it receives events from Apply and its channel
// is empty: every event up to the revision has been taken from the
// channel. A server answering a progress request from the goroutine that
// forwards this watcher's responses may then announce the revision.
func (w *Watcher) Synced() (bool, int64) {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	if w.synced {
		return len(w.responses) == 0, w.hub.notified
	}
	return false, w.next - 1
}

// RequestProgress queues a progress response (no events) at the current
// revision behind the responses already queued on each of the watchers,
// all created by s, if every one of them can take it now: each is caught
// up with Apply, has room in its buffer, and the current revision is not
// below the StartRevision it asked for (etcd's rule: a notification
// announces that the watcher has delivered every event up to its
// revision, and a client resumes from the revision after it, so it must
// never lie below the start). It queues on all of them or on none, so the
// responses carry one revision, which it returns with true; closed
// watchers are passed over. Callable from any goroutine; a caller that
// gets false asks again later (the watchers catch up or the store reaches
// their start).
func (s *Store) RequestProgress(watchers ...*Watcher) (int64, bool) {
	hub := s.watches
	hub.mu.Lock()
	defer hub.mu.Unlock()
	revision := hub.notified
	for _, watcher := range watchers {
		if watcher.hub != hub {
			panic("kv: RequestProgress given a watcher of another store")
		}
		if watcher.removed {
			continue
		}
		// A synced watcher's buffer is filled only by publish and by this
		// function, both under hub.mu, so room seen here stays.
		if !watcher.synced || revision < watcher.start || len(watcher.responses) == cap(watcher.responses) {
			return 0, false
		}
	}
	for _, watcher := range watchers {
		if !watcher.removed {
			watcher.trySend(WatchResponse{Revision: revision})
		}
	}
	return revision, true
}

// contains reports whether key is watched.
func (w *Watcher) contains(key []byte) bool {
	switch {
	case w.end == nil:
		return bytes.Equal(key, w.key)
	case isOpenEnd(w.end):
		return bytes.Compare(key, w.key) >= 0
	}
	return bytes.Compare(key, w.key) >= 0 && bytes.Compare(key, w.end) < 0
}

// accepts reports whether an event of a watched key passes the filters.
func (w *Watcher) accepts(event *mvccpb.Event) bool {
	if event.Type == mvccpb.Event_PUT {
		return !w.noPut
	}
	return !w.noDelete
}

// trySend queues a response without blocking; false if the buffer is full
// or the watcher closed.
func (w *Watcher) trySend(response WatchResponse) bool {
	return w.deliver(response, false)
}

// send queues a response, waiting for room; false if the watcher or the
// store closed first.
func (w *Watcher) send(response WatchResponse) bool {
	return w.deliver(response, true)
}

// deliver queues a response, waiting for room if asked.
func (w *Watcher) deliver(response WatchResponse, wait bool) bool {
	if !w.enqueue(response, wait) {
		return false
	}
	w.signal()
	return true
}

// enqueue puts a response on the channel, waiting for room if asked.
func (w *Watcher) enqueue(response WatchResponse, wait bool) bool {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	if w.closed {
		return false
	}
	if !wait {
		select {
		case w.responses <- response:
			return true
		default:
			return false
		}
	}
	select {
	case w.responses <- response:
		return true
	case <-w.done:
		return false
	case <-w.hub.closing:
		return false
	}
}

// signal tells the Ready channel, if any, that the watcher has something
// to read, without blocking.
func (w *Watcher) signal() {
	if w.ready == nil {
		return
	}
	select {
	case w.ready <- struct{}{}:
	default:
	}
}
