package kv

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// catchUpBudget bounds the events one catch-up response carries; a
// revision is never split, so a response may exceed it by one revision.
const catchUpBudget = 1024

// catchUp runs in its own goroutine while a watcher is unsynced: it reads
// the watcher's events from the store up to the last published revision
// and sends them, waiting for room, until nothing more is published in the
// meantime; then it puts the watcher back in the synced set, so that the
// next Apply delivers what follows with no gap.
func (h *watchHub) catchUp(watcher *Watcher) {
	defer h.goroutines.Done()
	for {
		h.mu.Lock()
		if watcher.removed || h.closed {
			h.mu.Unlock()
			return
		}
		target, next := h.notified, watcher.next
		if next > target {
			watcher.minimum = max(watcher.minimum, next)
			h.join(watcher)
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()

		response, last, err := h.readEvents(watcher, next, target)
		if errors.Is(err, ErrClosed) {
			return
		}
		if err != nil {
			h.store.logger.Error("kv: watcher cannot read its events; closing it", "error", err)
			watcher.Close()
			return
		}
		if response.Canceled {
			watcher.send(response)
			watcher.Close()
			return
		}
		if len(response.Events) > 0 && !watcher.send(response) {
			return
		}
		h.mu.Lock()
		watcher.next = last + 1
		h.mu.Unlock()
	}
}

// readEvents reads the watcher's events of revisions next to target from
// the store, at most about catchUpBudget of them, and returns them with
// the last revision covered. If next is compacted, the response is the
// cancellation.
func (h *watchHub) readEvents(watcher *Watcher, next, target int64) (WatchResponse, int64, error) {
	view, err := h.store.openView()
	if err != nil {
		return WatchResponse{}, 0, err
	}
	defer view.close()
	if next < view.state.compacted {
		return WatchResponse{Canceled: true, CompactRevision: view.state.compacted, Revision: view.state.revision}, 0, nil
	}
	target = min(target, view.state.revision)
	iterator, err := view.snapshot.NewIter(&pebble.IterOptions{LowerBound: eventKey(next, 0), UpperBound: eventKey(target+1, 0)})
	if err != nil {
		return WatchResponse{}, 0, fmt.Errorf("kv: read events: %w", err)
	}
	defer iterator.Close()
	response := WatchResponse{Revision: target}
	last, examined := target, int64(0)
	for valid := iterator.First(); valid; valid = iterator.Next() {
		main, sub, err := parseEventKey(iterator.Key())
		if err != nil {
			return WatchResponse{}, 0, err
		}
		if len(response.Events) >= catchUpBudget && main > examined {
			// Every event of revision examined has been seen: stop
			// there, the rest comes in the next response.
			last = examined
			break
		}
		examined = main
		key := iterator.Value()
		if !watcher.contains(key) {
			continue
		}
		event, err := historicalEvent(view, bytes.Clone(key), main, sub, watcher.prevKV)
		if err != nil {
			return WatchResponse{}, 0, err
		}
		if event != nil && watcher.accepts(event) {
			response.Events = append(response.Events, event)
		}
	}
	if err := iterator.Error(); err != nil {
		return WatchResponse{}, 0, fmt.Errorf("kv: read events: %w", err)
	}
	if last < target {
		response.Revision = last
	}
	return response, last, nil
}

// historicalEvent rebuilds the event written at (main, sub) for key. Its
// previous key-value is the key's version at main-1, when that revision is
// not compacted (etcd reads it the same way). It returns nil for a version
// at the compacted revision that compaction removed: the first of two
// changes of one key in one revision, which only a "\x00" delete range in
// a Txn can make.
func historicalEvent(view *view, key []byte, main, sub int64, withPrevious bool) (*mvccpb.Event, error) {
	value, err := getValue(view.snapshot, historyKey(key, main, sub))
	if errors.Is(err, pebble.ErrNotFound) && main <= view.state.compacted {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kv: read event %d.%d of %q: %w", main, sub, key, err)
	}
	r, err := decodeRecord(value, true)
	if err != nil {
		return nil, err
	}
	event := &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: r.keyValue(key)}
	if r.tombstone {
		event = &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: key, ModRevision: main}}
	}
	if withPrevious && main-1 >= view.state.compacted && main > 1 {
		previous, err := versionBefore(view.snapshot, key, main)
		if err != nil {
			return nil, err
		}
		event.PrevKv = previous
	}
	return event, nil
}
