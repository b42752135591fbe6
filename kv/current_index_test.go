package kv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// currentVersionOf returns key's current version in h's store.
func currentVersionOf(h *harness, key string) *mvccpb.KeyValue {
	h.t.Helper()
	response := h.get(&pb.RangeRequest{Key: []byte(key)})
	if len(response.Kvs) != 1 {
		h.t.Fatalf("%q: %d versions, want 1", key, len(response.Kvs))
	}
	return response.Kvs[0]
}

// TestCurrentIndexOfARestoredStore restores a store whose key has a later
// version than the one the index knew: the next put continues from the
// restored version, not from the index's.
func TestCurrentIndexOfARestoredStore(t *testing.T) {
	source, target := newHarness(t, Options{}), newHarness(t, Options{})
	for range 3 {
		source.put("key", "source", 0)
	}
	target.put("key", "target", 0) // the target's index now holds version 1
	if err := target.store.Restore(bytes.NewReader(imageOf(t, source.store))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	target.put("key", "after", 0)
	if got := currentVersionOf(target, "key"); got.Version != 4 || got.CreateRevision != 2 {
		t.Fatalf("after the restore, key is %v: want version 4, created at 2", got)
	}
}

// TestCurrentIndexOfAReopenedStore reopens a store on disk: its index
// starts empty and not complete, so a put of a key it does not hold reads
// the store.
func TestCurrentIndexOfAReopenedStore(t *testing.T) {
	directory := t.TempDir()
	store, err := Open(directory, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	h := &harness{t: t, store: store}
	h.put("key", "first", 0)
	if err := store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if h.store, err = Open(directory, Options{}); err != nil {
		t.Fatalf("Open again: %v", err)
	}
	defer h.store.Close()
	h.index = h.store.AppliedIndex()
	h.put("key", "second", 0)
	if got := currentVersionOf(h, "key"); got.Version != 2 || got.CreateRevision != 2 {
		t.Fatalf("after reopening, key is %v: want version 2, created at 2", got)
	}
}

// TestCurrentIndexEvicts fills an index of two keys with three: it keeps
// two, reuses the evicted one's slot, and no longer claims to hold every
// key.
func TestCurrentIndexEvicts(t *testing.T) {
	index := newCurrentIndex(2, true)
	if _, found, known := index.lookup([]byte("absent")); found || !known {
		t.Fatalf("a complete index: found %v known %v, want absent and known", found, known)
	}
	for i, key := range []string{"a", "b", "c"} {
		index.set([]byte(key), currentMetadata{create: int64(i + 1)})
	}
	if index.count() != 2 || len(index.slots) != 2 {
		t.Fatalf("%d keys in %d slots, want 2 in 2", index.count(), len(index.slots))
	}
	if _, found, known := index.lookup([]byte("absent")); found || known {
		t.Fatalf("after an eviction: found %v known %v, want unknown", found, known)
	}
	metadata, found, _ := index.lookup([]byte("c"))
	if !found || metadata.create != 3 {
		t.Fatalf("c: %+v found %v, want created at 3", metadata, found)
	}
	index.remove([]byte("c"))
	if _, found, _ := index.lookup([]byte("c")); found || len(index.free) != 1 {
		t.Fatalf("c removed: found %v, %d free slots, want absent and 1", found, len(index.free))
	}
}

// TestCurrentIndexAgreesWithAMap sets and removes random keys, many of
// them with the same hash, in an index small enough to evict and large
// keys enough to compact its arena, and compares it with a map after
// every step: every key it holds has the map's metadata, and it holds
// every key when it says it is complete.
func TestCurrentIndexAgreesWithAMap(t *testing.T) {
	for _, limit := range []int{8, 1000} {
		random := rand.New(rand.NewPCG(uint64(limit), 7))
		index := newCurrentIndex(limit, true)
		index.hash = func(key []byte) uint64 { return uint64(key[len(key)-1] % 5) } // long chains
		truth := map[string]currentMetadata{}
		for step := range 10_000 {
			key := fmt.Appendf(nil, "key/%d", random.IntN(300))
			if random.IntN(20) == 0 { // a long key: their garbage fills the arena
				key = append(bytes.Repeat([]byte{'L'}, 50_000), byte(random.IntN(30)))
			}
			if random.IntN(3) == 0 {
				index.remove(key)
				delete(truth, string(key))
			} else {
				metadata := currentMetadata{create: int64(step), version: random.Int64N(9)}
				index.set(key, metadata)
				truth[string(key)] = metadata
			}
			held := 0
			for slot := range index.slots {
				if !index.slots[slot].used {
					continue
				}
				held++
				key := index.keyOf(int32(slot))
				if want, ok := truth[string(key)]; !ok || index.slots[slot].metadata != want {
					t.Fatalf("limit %d step %d: index holds %d bytes ending %d with %+v, want %+v (present %v)", limit, step, len(key), key[len(key)-1], index.slots[slot].metadata, want, ok)
				}
				if got, found, _ := index.lookup(key); !found || got != truth[string(key)] {
					t.Fatalf("limit %d step %d: lookup of a held key: %+v found %v", limit, step, got, found)
				}
			}
			if held != index.count() || held > limit {
				t.Fatalf("limit %d step %d: %d keys held, count %d", limit, step, held, index.count())
			}
			if index.complete && held != len(truth) {
				t.Fatalf("limit %d step %d: complete with %d of %d keys", limit, step, held, len(truth))
			}
		}
		if limit == 8 && index.complete {
			t.Errorf("an index of 8 keys never evicted")
		}
		if index.compactions == 0 {
			t.Errorf("limit %d: the arena was never compacted", limit)
		}
	}
}
