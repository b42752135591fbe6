package kv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// churn puts count values of size bytes over keys keys, a hundred puts
// per Apply call. The value is random (from a fixed seed) so that Pebble
// cannot compress it away.
func churn(h *harness, count, keys, size int) {
	h.t.Helper()
	value := make([]byte, size)
	random := rand.New(rand.NewPCG(1, 2))
	for i := range value {
		value[i] = byte(random.Uint32())
	}
	var requests []*pb.InternalRaftRequest
	for i := range count {
		key := []byte(fmt.Sprintf("key-%d", i%keys))
		requests = append(requests, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: value}})
		if len(requests) == 100 || i == count-1 {
			for _, result := range h.apply(requests...) {
				if !isResponse(result) {
					h.t.Fatalf("put: %v", result)
				}
			}
			requests = requests[:0]
		}
	}
}

// continueCompaction applies ContinueCompaction's requests until nothing
// is pending and returns how many it took; each must be answered
// ErrGRPCCompacted and leave the revision alone.
func continueCompaction(h *harness) int {
	h.t.Helper()
	revision, _ := h.store.Revision()
	count := 0
	for request := h.store.ContinueCompaction(); request != nil; request = h.store.ContinueCompaction() {
		if count++; count > 100 {
			h.t.Fatal("compaction does not finish")
		}
		if err, _ := h.one(request).(error); !errors.Is(err, rpctypes.ErrGRPCCompacted) {
			h.t.Fatalf("continuation answered %v, want ErrGRPCCompacted", err)
		}
	}
	if after, _ := h.store.Revision(); after != revision {
		h.t.Fatalf("continuations moved the revision from %d to %d", revision, after)
	}
	return count
}

// TestContinuationsFinishCompactionWithoutWrites compacts a long history
// and then applies only continuations: each removes 1,024 events' worth
// of versions (64 for any other command), so three finish 3,000 events,
// and only the live versions are left.
func TestContinuationsFinishCompactionWithoutWrites(t *testing.T) {
	h := newHarness(t, Options{})
	churn(h, 3000, 10, 10)
	if h.store.CompactionPending() || h.store.ContinueCompaction() != nil {
		t.Fatal("compaction pending before any compaction")
	}
	current, _ := h.store.Revision()
	h.compact(current)
	if !h.store.CompactionPending() {
		t.Fatal("no compaction pending after compacting 3,000 revisions")
	}
	if got := continueCompaction(h); got != 3 {
		t.Errorf("continuations: %d, want 3 (3,000 events less the compaction's own 64, 1,024 a time)", got)
	}
	if got := countTable(t, h.store, historyPrefix); got != 10 {
		t.Errorf("history entries after compaction: %d, want the 10 live versions", got)
	}
	if got := countTable(t, h.store, eventPrefix); got != 1 {
		t.Errorf("event log entries after compaction: %d, want the one at the compacted revision", got)
	}
}

// TestDefragmentGivesSpaceBack churns 10 MB over 10 keys of 32 kB each:
// after a compaction the store's estimate of what is in use falls (by
// what Pebble knows its deletions cover: the data in levels below them),
// and Defragment brings its files within twice the live data plus a fixed
// 1 MiB.
func TestDefragmentGivesSpaceBack(t *testing.T) {
	h := newHarness(t, Options{})
	const keys, size = 10, 32 << 10
	churn(h, 300, keys, size)
	database, err := h.store.acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer database.release()
	disk := func() int64 { return int64(database.db.Metrics().DiskSpaceUsage()) }
	// The history into files, in Pebble's last level, as a store that has
	// lived a while has it.
	if err := database.db.Compact(context.Background(), []byte{0}, []byte{0xFF}, false); err != nil {
		t.Fatal(err)
	}
	if disk() < 8<<20 {
		t.Fatalf("store files hold %d bytes after 10 MB of puts", disk())
	}
	current, _ := h.store.Revision()
	h.compact(current)
	continueCompaction(h)
	// Pebble learns what the deletions cover in the background, once they
	// are flushed (the store starts the flush): poll, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for total, inUse := h.store.Size(); total-inUse < 4<<20; total, inUse = h.store.Size() {
		if time.Now().After(deadline) {
			t.Fatalf("in use %d of %d after compaction, want at least 4 MiB less (%d bytes are live)", inUse, total, keys*size)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.store.Defragment(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Pebble deletes the files it replaced in the background: poll, bounded.
	deadline = time.Now().Add(10 * time.Second)
	for limit := int64(2*keys*size + 1<<20); disk() > limit; {
		if time.Now().After(deadline) {
			t.Fatalf("store files hold %d bytes after Defragment, want at most %d", disk(), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range keys {
		key := fmt.Sprintf("key-%d", i)
		if got := h.get(&pb.RangeRequest{Key: []byte(key)}); len(got.Kvs) != 1 || len(got.Kvs[0].Value) != size {
			t.Errorf("%s after Defragment: %v", key, describe(got.Kvs))
		}
	}
}
