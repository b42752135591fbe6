package kv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

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
// two, reuses the evicted one's slot, cannot say whether the evicted key
// is live, and still knows a key never written is absent.
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
	if _, found, known := index.lookup([]byte("absent")); found || !known {
		t.Fatalf("after an eviction, a key never written: found %v known %v, want absent and known", found, known)
	}
	unknown := 0
	for _, key := range []string{"a", "b", "c"} {
		if _, _, known := index.lookup([]byte(key)); !known {
			unknown++
		}
	}
	if unknown != 1 {
		t.Fatalf("%d keys unknown, want the evicted one", unknown)
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
// every step: every key it holds has the map's metadata, and it never
// says a live key it does not hold is absent.
func TestCurrentIndexAgreesWithAMap(t *testing.T) {
	for _, limit := range []int{8, 1000} {
		random := rand.New(rand.NewPCG(uint64(limit), 7))
		index := newCurrentIndex(limit, true)
		index.hash = func(key []byte) uint64 { return uint64(key[len(key)-1] % 5) } // long chains
		truth := map[string]currentMetadata{}
		for step := range 6_000 {
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
				if !index.slots[slot].inUse() {
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
			for key, want := range truth {
				if step%50 != 0 {
					break // every live key's lookup, now and then: the chains are long
				}
				if got, found, known := index.lookup([]byte(key)); known && (!found || got != want) {
					t.Fatalf("limit %d step %d: live key %q: %+v found %v known, want %+v or unknown", limit, step, key, got, found, want)
				}
			}
		}
		if limit == 8 && len(index.evicted.filters) == 0 {
			t.Errorf("an index of 8 keys never evicted")
		}
		if index.compactions == 0 {
			t.Errorf("limit %d: the arena was never compacted", limit)
		}
	}
}

// TestEvictedKeysGiveUpWhenFull adds hashes until every filter is full:
// the next add fails and forgets them all, and an index then stops being
// complete.
func TestEvictedKeysGiveUpWhenFull(t *testing.T) {
	var evicted evictedKeys
	var spread uint64 = 0x9e3779b97f4a7c15 // spreads consecutive numbers over the bits
	for i := range maxEvictedFilters * evictedFilterKeys {
		if !evicted.add(uint64(i) * spread) {
			t.Fatalf("add %d failed before the filters were full", i)
		}
	}
	if !evicted.mayContain(42 * spread) {
		t.Fatalf("an added hash is not in the filters")
	}
	if evicted.add(1) || len(evicted.filters) != 0 {
		t.Fatalf("add to full filters: %d filters left, want none and false", len(evicted.filters))
	}
	index := newCurrentIndex(1, true)
	index.evicted = evictedKeys{filters: make([]bloomFilter, maxEvictedFilters)}
	for i := range index.evicted.filters {
		index.evicted.filters[i] = bloomFilter{bits: make([]uint64, evictedFilterBits/64), count: evictedFilterKeys}
	}
	index.set([]byte("a"), currentMetadata{})
	index.set([]byte("b"), currentMetadata{}) // evicts a; the filters are full
	if _, _, known := index.lookup([]byte("never written")); known || index.complete {
		t.Fatalf("an index whose filters filled: known %v complete %v, want neither", known, index.complete)
	}
}

// TestCurrentIndexBytesPerKey fills an index with 1,048,576 keys of 8
// bytes and counts the memory its arrays hold: about 67 bytes a key (a
// map from hashes to slots took 94), the figure the docs give.
func TestCurrentIndexBytesPerKey(t *testing.T) {
	const keys = 1 << 20
	index := newCurrentIndex(keys, true)
	key := make([]byte, 8)
	for i := range keys {
		binary.BigEndian.PutUint64(key, uint64(i))
		index.set(key, currentMetadata{create: int64(i)})
	}
	held := cap(index.table)*8 + cap(index.slots)*int(unsafe.Sizeof(indexSlot{})) + cap(index.keys) + cap(index.free)*4
	perKey := float64(held) / keys
	t.Logf("%d keys: %.1f bytes a key", keys, perKey)
	if perKey > 75 {
		t.Errorf("%.1f bytes a key, want at most 75", perKey)
	}
	for i := range keys {
		binary.BigEndian.PutUint64(key, uint64(i))
		if got, found, _ := index.lookup(key); !found || got.create != int64(i) {
			t.Fatalf("key %d: %+v found %v", i, got, found)
		}
	}
}
