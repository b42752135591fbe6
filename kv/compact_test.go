package kv

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestCompactionErrors checks etcd's refusals of Compaction.
func TestCompactionErrors(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1", 0)
	h.put("a", "2", 0) // rev 3
	cases := []struct {
		revision int64
		want     error
	}{
		{4, rpctypes.ErrGRPCFutureRev},
		{2, nil},
		{2, rpctypes.ErrGRPCCompacted},
		{1, rpctypes.ErrGRPCCompacted},
		{3, nil},
		{3, rpctypes.ErrGRPCCompacted},
	}
	for _, c := range cases {
		result := h.one(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: c.revision}})
		if c.want == nil {
			response, ok := result.(*pb.CompactionResponse)
			if !ok || response.Header.Revision != 3 {
				t.Errorf("compact %d: %v", c.revision, result)
			}
			continue
		}
		if err, _ := result.(error); !errors.Is(err, c.want) {
			t.Errorf("compact %d: %v, want %v", c.revision, result, c.want)
		}
	}
	if current, compacted := h.store.Revision(); current != 3 || compacted != 3 {
		t.Errorf("Revision: %d %d, want 3 3", current, compacted)
	}
}

// countTable counts the Pebble keys of one table.
func countTable(t *testing.T, store *Store, prefix byte) int {
	t.Helper()
	view, err := store.openView()
	if err != nil {
		t.Fatal(err)
	}
	defer view.close()
	count := 0
	if err := scanTable(view.snapshot, "test", prefix, func(_, _ []byte) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	return count
}

// TestCompactionKeepsReadsAndRemovesHistory compacts a long history: reads
// at and after the compacted revision do not change, reads before fail,
// HashKV stays the same while the old versions are removed a few at a
// time, and in the end only what the compacted revision can see is left.
func TestCompactionKeepsReadsAndRemovesHistory(t *testing.T) {
	h := newHarness(t, Options{})
	for i := range 150 {
		h.put("hot", string(rune('a'+i%26)), 0)
		if i%10 == 0 {
			h.put("cold"+string(rune('a'+i/10)), "v", 0)
		}
	}
	h.put("gone", "v", 0)
	h.remove("gone", "")
	h.put("deleted-at-compaction", "v", 0)
	h.remove("deleted-at-compaction", "")
	compactAt, _ := h.store.Revision()
	h.put("hot", "after", 0)
	current, _ := h.store.Revision()
	before := map[int64][]string{}
	for revision := compactAt; revision <= current; revision++ {
		before[revision] = describe(h.get(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: revision}).Kvs)
	}
	hashBefore, _, _, err := h.store.HashKV(current)
	if err != nil {
		t.Fatal(err)
	}
	h.compact(compactAt)
	if _, err := h.store.Range(&pb.RangeRequest{Key: []byte("hot"), Revision: compactAt - 1}); !errors.Is(err, rpctypes.ErrGRPCCompacted) {
		t.Errorf("read below the compacted revision: %v", err)
	}
	hashes := map[uint32]bool{}
	for step := 0; countTable(t, h.store, eventPrefix) > 2; step++ {
		if step > 10 {
			t.Fatalf("physical compaction does not finish: %d events left", countTable(t, h.store, eventPrefix))
		}
		hash, _, compacted, err := h.store.HashKV(current)
		if err != nil || compacted != compactAt {
			t.Fatalf("HashKV: %v, compacted %d", err, compacted)
		}
		hashes[hash] = true
		h.one(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("hot")}}) // drives compaction, writes nothing
	}
	if len(hashes) != 1 {
		t.Errorf("HashKV changed while compaction went on: %v", hashes)
	}
	if hashes[hashBefore] {
		t.Errorf("HashKV did not change with compaction; it should leave the dropped versions out")
	}
	for revision := compactAt; revision <= current; revision++ {
		got := describe(h.get(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: revision}).Kvs)
		if !equalStrings(got, before[revision]) {
			t.Errorf("read at %d changed by compaction: %v, want %v", revision, got, before[revision])
		}
	}
	// Left: hot at the compacted revision and after it, each cold key,
	// the tombstone at the compacted revision.
	if got, want := countTable(t, h.store, historyPrefix), 2+15+1; got != want {
		t.Errorf("history entries after compaction: %d, want %d", got, want)
	}
	if got := countTable(t, h.store, eventPrefix); got != 2 {
		t.Errorf("event log entries after compaction: %d, want the 2 at and after the compacted revision", got)
	}
}

// TestRepeatedCompactionRemovesKeptVersions compacts twice: a version the
// first compaction kept (the latest at its revision) goes with the second
// once a newer version or a deletion is below it.
func TestRepeatedCompactionRemovesKeptVersions(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("x", "1", 0) // 2
	h.put("y", "1", 0) // 3
	h.compact(3)
	h.remove("x", "")  // 4
	h.put("y", "2", 0) // 5
	h.put("z", "1", 0) // 6
	h.compact(6)
	h.one(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("x")}}) // one more step
	if got := describe(h.get(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 6}).Kvs); !equalStrings(got, []string{"y=2 c3 m5 v2", "z=1 c6 m6 v1"}) {
		t.Errorf("read at the compacted revision: %v", got)
	}
	if got := countTable(t, h.store, historyPrefix); got != 2 {
		t.Errorf("history entries: %d, want y@5 and z@6", got)
	}
}
