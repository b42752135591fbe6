package kv

import (
	"sync"

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
	delete(h.all, watcher)
}

// publish hands the changes of one Apply call, committed at revision, to
// the synced watchers, without blocking: a watcher whose buffer is full
// becomes unsynced from the first revision it missed.
func (h *watchHub) publish(revision int64, changes []change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	previous := h.notified
	h.notified = revision
	if len(changes) == 0 {
		return
	}
	batches := make(map[*Watcher][]*mvccpb.Event)
	var order []*Watcher
	deliver := func(watcher *Watcher, item change) {
		if item.event.Kv.ModRevision < watcher.minimum || !watcher.accepts(item.event) {
			return
		}
		if _, seen := batches[watcher]; !seen {
			order = append(order, watcher)
		}
		batches[watcher] = append(batches[watcher], watcher.eventFor(item.event, item.previous))
	}
	for _, item := range changes {
		for watcher := range h.singleKey[string(item.event.Kv.Key)] {
			deliver(watcher, item)
		}
		for watcher := range h.ranged {
			if watcher.contains(item.event.Kv.Key) {
				deliver(watcher, item)
			}
		}
	}
	for _, watcher := range order {
		if !watcher.trySend(WatchResponse{Events: batches[watcher], Revision: revision}) {
			watcher.next = max(previous+1, watcher.minimum)
			h.startCatchUp(watcher)
		}
	}
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
