package kv

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// receive takes the next response of a watcher, failing if it closed.
func receive(t testing.TB, watcher *Watcher) WatchResponse {
	t.Helper()
	response, ok := <-watcher.Responses()
	if !ok {
		t.Fatalf("watcher closed")
	}
	return response
}

// receiveEvents takes responses until count events arrived; it checks
// that no response splits a revision and that revisions never go back.
func receiveEvents(t testing.TB, watcher *Watcher, count int) []*mvccpb.Event {
	t.Helper()
	var events []*mvccpb.Event
	lastRevision := int64(0)
	for len(events) < count {
		response := receive(t, watcher)
		for _, event := range response.Events {
			if event.Kv.ModRevision < lastRevision {
				t.Fatalf("event of revision %d after one of %d", event.Kv.ModRevision, lastRevision)
			}
			lastRevision = event.Kv.ModRevision
		}
		if len(response.Events) > 0 && response.Revision < lastRevision {
			t.Fatalf("response revision %d below its last event's %d", response.Revision, lastRevision)
		}
		events = append(events, response.Events...)
	}
	if len(events) != count {
		t.Fatalf("received %d events, want %d", len(events), count)
	}
	return events
}

// describeEvents renders events as "PUT key=value@mod" or "DELETE key@mod",
// with " prev=value" when a previous key-value is attached.
func describeEvents(events []*mvccpb.Event) []string {
	described := []string{}
	for _, event := range events {
		text := fmt.Sprintf("%s %s=%s@%d", event.Type, event.Kv.Key, event.Kv.Value, event.Kv.ModRevision)
		if event.Type == mvccpb.Event_DELETE {
			text = fmt.Sprintf("DELETE %s@%d", event.Kv.Key, event.Kv.ModRevision)
		}
		if event.PrevKv != nil {
			text += " prev=" + string(event.PrevKv.Value)
		}
		described = append(described, text)
	}
	return described
}

// waitSynced blocks until the watcher has rejoined the synced set.
func waitSynced(watcher *Watcher) {
	hub := watcher.hub
	hub.mu.Lock()
	defer hub.mu.Unlock()
	for !watcher.synced {
		hub.joined.Wait()
	}
}

func mustWatch(t testing.TB, store *Store, request WatchRequest) *Watcher {
	t.Helper()
	watcher, err := store.Watch(request)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(watcher.Close)
	return watcher
}

// TestWatchFromNowWithFilters watches live changes with each filter and
// prev_kv, on one key, an interval and everything.
func TestWatchFromNowWithFilters(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "0", 0) // rev 2
	cases := []struct {
		name    string
		request WatchRequest
		want    []string
	}{
		{"one key", WatchRequest{Key: []byte("a")}, []string{"PUT a=1@3", "DELETE a@5", "PUT a=3@6"}},
		{"interval with prev_kv", WatchRequest{Key: []byte("a"), RangeEnd: []byte("b"), PrevKV: true}, []string{"PUT a=1@3 prev=0", "DELETE a@5 prev=1", "PUT a=3@6", "PUT ab=4@7"}},
		{"no puts", WatchRequest{Key: []byte{0}, RangeEnd: []byte{0}, NoPut: true}, []string{"DELETE a@5"}},
		{"no deletes, from b on", WatchRequest{Key: []byte("b"), RangeEnd: []byte{0}, NoDelete: true}, []string{"PUT b=2@4", "PUT c=5@8"}},
	}
	var watchers []*Watcher
	for _, c := range cases {
		watchers = append(watchers, mustWatch(t, h.store, c.request))
	}
	h.put("a", "1", 0)
	h.put("b", "2", 0)
	h.remove("a", "")
	h.put("a", "3", 0)
	h.put("ab", "4", 0)
	h.put("c", "5", 0)
	for i, c := range cases {
		got := describeEvents(receiveEvents(t, watchers[i], len(c.want)))
		if !equalStrings(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if synced, revision := watchers[i].Synced(); !synced || revision != 8 {
			t.Errorf("%s: Synced %v %d, want true 8", c.name, synced, revision)
		}
	}
}

// TestWatchFromPast starts watchers at past revisions: history first,
// then live events, with no gap and no duplicate, including changes made
// while the watcher catches up.
func TestWatchFromPast(t *testing.T) {
	h := newHarness(t, Options{})
	for i := range 20 {
		h.put(fmt.Sprintf("k%02d", i), fmt.Sprint(i), 0) // revs 2..21
	}
	watcher := mustWatch(t, h.store, WatchRequest{Key: []byte("k"), RangeEnd: []byte("l"), StartRevision: 5, PrevKV: true})
	for i := 20; i < 30; i++ {
		h.put(fmt.Sprintf("k%02d", i), fmt.Sprint(i), 0) // revs 22..31
	}
	h.put("k00", "again", 0) // rev 32
	events := receiveEvents(t, watcher, 28)
	for i, event := range events[:27] {
		if want := int64(5 + i); event.Kv.ModRevision != want || event.PrevKv != nil {
			t.Fatalf("event %d: %v, want a creation at revision %d", i, event, want)
		}
	}
	if got := describeEvents(events[27:]); !equalStrings(got, []string{"PUT k00=again@32 prev=0"}) {
		t.Errorf("last event: %v", got)
	}
	waitSynced(watcher)
	h.put("k99", "live", 0)
	if got := describeEvents(receiveEvents(t, watcher, 1)); !equalStrings(got, []string{"PUT k99=live@33"}) {
		t.Errorf("live event after catching up: %v", got)
	}
	future := mustWatch(t, h.store, WatchRequest{Key: []byte("f"), StartRevision: 35})
	h.put("f", "34", 0)
	h.put("f", "35", 0)
	if got := describeEvents(receiveEvents(t, future, 1)); !equalStrings(got, []string{"PUT f=35@35"}) {
		t.Errorf("watch from a future revision: %v", got)
	}
}

// TestWatchCompacted checks the cancellation of a watcher whose start was
// compacted, and that a watch from the compacted revision itself still
// gets that revision's events, deletions included.
func TestWatchCompacted(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1", 0) // 2
	h.put("a", "2", 0) // 3
	h.remove("a", "")  // 4
	h.put("b", "1", 0) // 5
	h.compact(4)
	canceled := mustWatch(t, h.store, WatchRequest{Key: []byte("a"), StartRevision: 3})
	response := receive(t, canceled)
	if !response.Canceled || response.CompactRevision != 4 || len(response.Events) != 0 {
		t.Errorf("compacted start: %+v", response)
	}
	if _, open := <-canceled.Responses(); open {
		t.Errorf("channel open after the Canceled response")
	}
	atCompaction := mustWatch(t, h.store, WatchRequest{Key: []byte{0}, RangeEnd: []byte{0}, StartRevision: 4, PrevKV: true})
	if got := describeEvents(receiveEvents(t, atCompaction, 2)); !equalStrings(got, []string{"DELETE a@4", "PUT b=1@5"}) {
		t.Errorf("watch from the compacted revision: %v", got)
	}
}

// TestWatchSlowReader fills a watcher's one-response buffer so that it
// falls out of the synced set, then reads: it gets every event exactly
// once, in order, and rejoins.
func TestWatchSlowReader(t *testing.T) {
	h := newHarness(t, Options{WatchBufferSize: 1})
	watcher := mustWatch(t, h.store, WatchRequest{Key: []byte("k"), RangeEnd: []byte("l")})
	const writes = 300
	for i := range writes {
		h.put(fmt.Sprintf("k%d", i%7), fmt.Sprint(i), 0)
		if i%50 == 0 {
			h.put("other", "x", 0) // revisions the watcher must skip
		}
	}
	if synced, _ := watcher.Synced(); synced {
		t.Errorf("a watcher with a full buffer reports synced")
	}
	events := receiveEvents(t, watcher, writes)
	for i, event := range events {
		if want := fmt.Sprint(i); string(event.Kv.Value) != want {
			t.Fatalf("event %d has value %s, want %s", i, event.Kv.Value, want)
		}
	}
	waitSynced(watcher)
	if synced, revision := watcher.Synced(); !synced || revision != int64(writes+6+1) {
		t.Errorf("after catching up: Synced %v %d", synced, revision)
	}
	if _, queued := h.store.RequestProgress(watcher); !queued {
		t.Fatalf("RequestProgress of a synced watcher queued nothing")
	}
	if progress := receive(t, watcher); len(progress.Events) != 0 || progress.Revision != int64(writes+6+1) {
		t.Errorf("progress response %+v", progress)
	}
}

// TestWatchConcurrentWithApply runs Apply, readers and watchers at once
// (run with -race): every watcher sees every event of its interval once
// and in order (strictly increasing revisions, each put being its own,
// and the full count), whatever its speed.
func TestWatchConcurrentWithApply(t *testing.T) {
	h := newHarness(t, Options{WatchBufferSize: 4})
	const batches, perBatch = 60, 8
	type expectation struct {
		watcher *Watcher
		prefix  string
	}
	var watchers []expectation
	for _, prefix := range []string{"a", "b", ""} {
		request := WatchRequest{Key: []byte{0}, RangeEnd: []byte{0}}
		if prefix != "" {
			request = WatchRequest{Key: []byte(prefix), RangeEnd: []byte(prefixEnd(prefix)), PrevKV: true}
		}
		watchers = append(watchers, expectation{mustWatch(t, h.store, request), prefix})
	}
	var group sync.WaitGroup
	received := make([][]*mvccpb.Event, len(watchers))
	for i, expected := range watchers {
		want := batches * perBatch / 2
		if expected.prefix == "" {
			want = batches * perBatch
		}
		group.Add(1)
		go func() {
			defer group.Done()
			for len(received[i]) < want {
				response, ok := <-expected.watcher.Responses()
				if !ok {
					return
				}
				received[i] = append(received[i], response.Events...)
			}
		}()
	}
	group.Add(1)
	go func() {
		defer group.Done()
		for range batches * 4 {
			response, err := h.store.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, CountOnly: true})
			if err != nil {
				t.Errorf("Range: %v", err)
				return
			}
			if response.Count > 16 {
				t.Errorf("count %d: more keys than written", response.Count)
			}
		}
	}()
	for batch := range batches {
		var requests []*pb.InternalRaftRequest
		for i := range perBatch {
			key := fmt.Sprintf("%c%d", "ab"[i%2], i)
			requests = append(requests, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(fmt.Sprint(batch))}})
		}
		h.apply(requests...)
	}
	group.Wait()
	for i, expected := range watchers {
		want := batches * perBatch / 2
		if expected.prefix == "" {
			want = batches * perBatch
		}
		if len(received[i]) != want {
			t.Errorf("watcher %q got %d events, want %d", expected.prefix, len(received[i]), want)
		}
		last := int64(0)
		for j, event := range received[i] {
			if event.Kv.ModRevision <= last || !strings.HasPrefix(string(event.Kv.Key), expected.prefix) {
				t.Fatalf("watcher %q: event %d %v after revision %d", expected.prefix, j, event, last)
			}
			last = event.Kv.ModRevision
			if batch := fmt.Sprint((event.Kv.ModRevision - 2) / perBatch); string(event.Kv.Value) != batch {
				t.Fatalf("watcher %q: event %v is not from batch %s", expected.prefix, event, batch)
			}
		}
	}
}

// TestWatcherClose checks that Close and Store.Close close the channel.
func TestWatcherClose(t *testing.T) {
	h := newHarness(t, Options{})
	first := mustWatch(t, h.store, WatchRequest{Key: []byte("a")})
	first.Close()
	first.Close()
	if _, open := <-first.Responses(); open {
		t.Errorf("channel open after Close")
	}
	h.put("a", "1", 0)
	second := mustWatch(t, h.store, WatchRequest{Key: []byte("a"), StartRevision: 1})
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	for range second.Responses() {
	}
	if _, err := h.store.Watch(WatchRequest{Key: []byte("a")}); err != ErrClosed {
		t.Errorf("Watch on a closed store: %v", err)
	}
}
