package kv

import (
	"testing"
)

// TestProgressWithheldBelowStart is etcd's rule (issue 20221): a watcher
// whose start revision lies in the future gets no progress notification
// until the store reaches that revision. A notification at the current
// revision would move the client's resume point below the start, so a
// failover would bring it events it never asked for.
func TestProgressWithheldBelowStart(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1", 0)
	current := h.put("a", "2", 0).Header.Revision
	future := mustWatch(t, h.store, WatchRequest{Key: []byte("k"), StartRevision: current + 3})
	if revision, queued := h.store.RequestProgress(future); queued {
		t.Fatalf("progress at %d queued for a watch starting at %d", revision, current+3)
	}
	h.put("a", "3", 0)
	h.put("a", "4", 0) // current + 2: still below the start
	if revision, queued := h.store.RequestProgress(future); queued {
		t.Fatalf("progress at %d queued for a watch starting at %d", revision, current+3)
	}
	h.put("a", "5", 0) // current + 3: the start revision
	revision, queued := h.store.RequestProgress(future)
	if !queued || revision != current+3 {
		t.Fatalf("at the start revision: RequestProgress = %d, %v; want %d, true", revision, queued, current+3)
	}
	if response := receive(t, future); len(response.Events) != 0 || response.Revision != current+3 {
		t.Fatalf("progress response %+v, want no events at %d", response, current+3)
	}
}

// TestProgressWithoutStartIsImmediate: a watch from now (start 0) or from
// a past revision it has caught up with gets progress at once.
func TestProgressWithoutStartIsImmediate(t *testing.T) {
	h := newHarness(t, Options{})
	first := h.put("a", "1", 0).Header.Revision
	now := mustWatch(t, h.store, WatchRequest{Key: []byte("a")})
	past := mustWatch(t, h.store, WatchRequest{Key: []byte("a"), StartRevision: first})
	receiveEvents(t, past, 1)
	waitSynced(past)
	current := h.put("b", "1", 0).Header.Revision
	revision, queued := h.store.RequestProgress(now, past)
	if !queued || revision != current {
		t.Fatalf("RequestProgress = %d, %v; want %d, true", revision, queued, current)
	}
	for _, watcher := range []*Watcher{now, past} {
		if response := receive(t, watcher); len(response.Events) != 0 || response.Revision != current {
			t.Fatalf("progress response %+v, want no events at %d", response, current)
		}
	}
}

// TestProgressAllOrNone: progress for several watchers is queued on all
// of them at one revision or on none, so a stream-wide answer never
// announces a revision that one of its watchers may not be given.
func TestProgressAllOrNone(t *testing.T) {
	h := newHarness(t, Options{WatchBufferSize: 1})
	current := h.put("a", "1", 0).Header.Revision
	ready := mustWatch(t, h.store, WatchRequest{Key: []byte("a")})
	future := mustWatch(t, h.store, WatchRequest{Key: []byte("b"), StartRevision: current + 2})
	if _, queued := h.store.RequestProgress(ready, future); queued {
		t.Fatalf("progress queued while one watcher starts in the future")
	}
	if len(ready.Responses()) != 0 {
		t.Fatalf("a marker was queued on the ready watcher alone")
	}

	// A full buffer refuses too, and leaves the others untouched.
	h.put("a", "2", 0) // fills ready's one-response buffer
	h.put("c", "1", 0) // future reaches its start
	if _, queued := h.store.RequestProgress(ready, future); queued {
		t.Fatalf("progress queued on a watcher whose buffer is full")
	}
	if len(future.Responses()) != 0 {
		t.Fatalf("a marker was queued on one watcher while another could take none")
	}

	receiveEvents(t, ready, 1)
	revision, queued := h.store.RequestProgress(ready, future)
	if !queued || revision != current+2 {
		t.Fatalf("RequestProgress = %d, %v; want %d, true", revision, queued, current+2)
	}
	for _, watcher := range []*Watcher{ready, future} {
		if response := receive(t, watcher); len(response.Events) != 0 || response.Revision != current+2 {
			t.Fatalf("progress response %+v, want no events at %d", response, current+2)
		}
	}
}

// TestProgressWaitsForCatchUp: a watcher still reading its history from
// the store is not caught up, so it cannot announce the current revision.
func TestProgressWaitsForCatchUp(t *testing.T) {
	h := newHarness(t, Options{WatchBufferSize: 1})
	first := h.put("a", "1", 0).Header.Revision
	h.put("a", "2", 0)
	h.put("a", "3", 0)
	behind := mustWatch(t, h.store, WatchRequest{Key: []byte("a"), StartRevision: first})
	if _, queued := h.store.RequestProgress(behind); queued {
		t.Fatalf("progress queued on a watcher that has not delivered its history")
	}
	receiveEvents(t, behind, 3)
	waitSynced(behind)
	if _, queued := h.store.RequestProgress(behind); !queued {
		t.Fatalf("no progress once the watcher caught up")
	}
}

// TestProgressPassesOverClosedWatchers: a closed watcher does not hold the
// others back.
func TestProgressPassesOverClosedWatchers(t *testing.T) {
	h := newHarness(t, Options{})
	current := h.put("a", "1", 0).Header.Revision
	closed := mustWatch(t, h.store, WatchRequest{Key: []byte("b"), StartRevision: current + 5})
	open := mustWatch(t, h.store, WatchRequest{Key: []byte("a")})
	closed.Close()
	if revision, queued := h.store.RequestProgress(closed, open); !queued || revision != current {
		t.Fatalf("RequestProgress = %d, %v; want %d, true", revision, queued, current)
	}
}
