package kv

import (
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// watchHub keeps the watchers of a store: the synced ones, which Apply
// feeds directly, and the unsynced ones, each caught up from the store by
// its own goroutine until it rejoins the synced set.
type watchHub struct {
	store *Store

	mu        sync.Mutex
	notified  int64 // the revision of the last state published to watchers
	singleKey map[string]map[*Watcher]struct{}
	ranged    map[*Watcher]struct{}
	all       map[*Watcher]struct{}
	closed    bool
	// previousWanted counts the watchers that want previous key-values
	// (prev_kv), for Apply to read without mu (see wantPrevious).
	previousWanted atomic.Int64
	// joined is signaled whenever a watcher joins the synced set.
	joined *sync.Cond

	closing    chan struct{}
	goroutines sync.WaitGroup
}

func newWatchHub(store *Store, revision int64) *watchHub {
	hub := &watchHub{
		store:     store,
		notified:  revision,
		singleKey: make(map[string]map[*Watcher]struct{}),
		ranged:    make(map[*Watcher]struct{}),
		all:       make(map[*Watcher]struct{}),
		closing:   make(chan struct{}),
	}
	hub.joined = sync.NewCond(&hub.mu)
	return hub
}

// add registers a new watcher: synced if it starts after the current
// revision, else unsynced from its start.
func (h *watchHub) add(watcher *Watcher, start int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	h.all[watcher] = struct{}{}
	if watcher.prevKV {
		h.previousWanted.Add(1)
	}
	if start == 0 || start > h.notified {
		watcher.minimum = max(start, h.notified+1)
		h.join(watcher)
		return nil
	}
	watcher.minimum, watcher.next = start, start
	h.startCatchUp(watcher)
	return nil
}

// join puts a watcher in the synced set. Called with mu held.
func (h *watchHub) join(watcher *Watcher) {
	watcher.synced = true
	h.joined.Broadcast()
	if watcher.end == nil {
		key := string(watcher.key)
		if h.singleKey[key] == nil {
			h.singleKey[key] = make(map[*Watcher]struct{})
		}
		h.singleKey[key][watcher] = struct{}{}
		return
	}
	h.ranged[watcher] = struct{}{}
}

// leave takes a watcher out of the synced set. Called with mu held.
func (h *watchHub) leave(watcher *Watcher) {
	if !watcher.synced {
		return
	}
	watcher.synced = false
	if watcher.end == nil {
		key := string(watcher.key)
		delete(h.singleKey[key], watcher)
		if len(h.singleKey[key]) == 0 {
			delete(h.singleKey, key)
		}
		return
	}
	delete(h.ranged, watcher)
}

// startCatchUp makes a watcher unsynced, to be caught up from its next
// revision. Called with mu held.
func (h *watchHub) startCatchUp(watcher *Watcher) {
	h.leave(watcher)
	h.goroutines.Add(1)
	go h.catchUp(watcher)
}

// remove forgets a closed watcher.
func (h *watchHub) remove(watcher *Watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leave(watcher)
	watcher.removed = true
	if _, present := h.all[watcher]; present && watcher.prevKV {
		h.previousWanted.Add(-1)
	}
	delete(h.all, watcher)
}

// wantPrevious reports whether a watcher wants previous key-values: Apply
// then reads the versions its writes replace with their values. One that
// registers during an Apply call gets values publish reads.
func (h *watchHub) wantPrevious() bool {
	return h.previousWanted.Load() > 0
}

// publish hands the changes of one Apply call, committed at revision, to
// the synced watchers, without blocking: a watcher whose buffer is full
// becomes unsynced from the first revision it missed. Watchers share the
// events (and, when one gets a single event, the slice holding it): with
// thousands of watchers on one prefix, a copy per watcher was most of the
// loop's time. A previous key-value a watcher wants that Apply did not
// read whole is read from reader, the database the changes were committed
// to (see priorVersion).
func (h *watchHub) publish(revision int64, changes []change, reader pebble.Reader) {
	h.mu.Lock()
	defer h.mu.Unlock()
	previous := h.notified
	h.notified = revision
	if len(changes) == 0 {
		return
	}
	shared := make([]sharedEvent, len(changes))
	for i := range changes {
		shared[i].change, shared[i].hub, shared[i].reader = &changes[i], h, reader
	}
	deliver := func(watcher *Watcher, events []*mvccpb.Event) {
		if len(events) == 0 {
			return
		}
		if !watcher.trySend(WatchResponse{Events: events, Revision: revision}) {
			watcher.next = max(previous+1, watcher.minimum)
			h.startCatchUp(watcher)
		}
	}
	// Watchers of one key: few per key, found by the changed keys.
	var keyed map[*Watcher][]*mvccpb.Event
	var keyedOrder []*Watcher
	for i := range changes {
		for watcher := range h.singleKey[string(changes[i].event.Kv.Key)] {
			if !shared[i].passes(watcher) {
				continue
			}
			if keyed == nil {
				keyed = make(map[*Watcher][]*mvccpb.Event)
			}
			if _, seen := keyed[watcher]; !seen {
				keyedOrder = append(keyedOrder, watcher)
			}
			keyed[watcher] = append(keyed[watcher], shared[i].event(watcher.prevKV))
		}
	}
	for _, watcher := range keyedOrder {
		deliver(watcher, keyed[watcher])
	}
	// Watchers of intervals: each looks through the changes once.
	for watcher := range h.ranged {
		deliver(watcher, eventsFor(watcher, shared))
	}
}

// sharedEvent is one change as the watchers receive it, built once for
// all of them: with and without its previous key-value, alone in a slice.
type sharedEvent struct {
	change       *change
	plain        []*mvccpb.Event // the event alone, no previous key-value
	withPrevious []*mvccpb.Event // the event alone, with it
	hub          *watchHub
	reader       pebble.Reader // reads a previous value Apply did not
}

// passes reports whether the change is one watcher delivers.
func (s *sharedEvent) passes(watcher *Watcher) bool {
	event := s.change.event
	return event.Kv.ModRevision >= watcher.minimum && watcher.contains(event.Kv.Key) && watcher.accepts(event)
}

// alone returns the event, as a watcher with or without prev_kv gets it,
// alone in a slice shared by every such watcher.
func (s *sharedEvent) alone(prevKV bool) []*mvccpb.Event {
	if !prevKV {
		if s.plain == nil {
			s.plain = []*mvccpb.Event{{Type: s.change.event.Type, Kv: s.change.event.Kv}}
		}
		return s.plain
	}
	if s.withPrevious == nil {
		s.withPrevious = []*mvccpb.Event{{Type: s.change.event.Type, Kv: s.change.event.Kv, PrevKv: s.previous()}}
	}
	return s.withPrevious
}

// previous returns the change's previous key-value, reading its value
// from the history if Apply did not: the key's version at the revision
// before the change's, as etcd reads it for its watchers. If a compaction
// in the same Apply call removed that version, or the read fails, the
// event goes without it, as in etcd.
func (s *sharedEvent) previous() *mvccpb.KeyValue {
	prior := s.change.previous
	if !prior.valueUnread {
		return prior.keyValue
	}
	key, revision := s.change.event.Kv.Key, s.change.event.Kv.ModRevision
	previous, err := versionBefore(s.reader, key, revision)
	if err != nil {
		s.hub.store.logger.Warn("kv: read a watched key's previous version", "key", string(key), "revision", revision-1, "error", err)
	}
	return previous
}

// event returns the event as a watcher with or without prev_kv gets it.
func (s *sharedEvent) event(prevKV bool) *mvccpb.Event { return s.alone(prevKV)[0] }

// eventsFor returns the events of shared that watcher delivers, in order:
// the shared slice when there is one, a new slice when there are several.
func eventsFor(watcher *Watcher, shared []sharedEvent) []*mvccpb.Event {
	var events []*mvccpb.Event
	first := -1
	for i := range shared {
		if !shared[i].passes(watcher) {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		if events == nil {
			events = append(events, shared[first].event(watcher.prevKV))
		}
		events = append(events, shared[i].event(watcher.prevKV))
	}
	if first >= 0 && events == nil {
		return shared[first].alone(watcher.prevKV)
	}
	return events
}

// restored makes every synced watcher catch up from the state a Restore
// installed, from the first revision it has not delivered.
func (h *watchHub) restored(revision int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	previous := h.notified
	h.notified = revision
	for watcher := range h.all {
		if watcher.synced {
			watcher.next = max(previous+1, watcher.minimum)
			h.startCatchUp(watcher)
		}
	}
}

// close closes every watcher and waits for the catch-up goroutines.
func (h *watchHub) close() {
	h.mu.Lock()
	h.closed = true
	close(h.closing)
	watchers := make([]*Watcher, 0, len(h.all))
	for watcher := range h.all {
		watchers = append(watchers, watcher)
	}
	h.mu.Unlock()
	for _, watcher := range watchers {
		watcher.Close()
	}
	h.goroutines.Wait()
}
