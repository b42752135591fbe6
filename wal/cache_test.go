package wal

import (
	"slices"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// TestCacheNeverChangesReturnedEntries holds a slice returned by the cache
// while the cache replaces a suffix, drops a prefix and evicts: readers use
// such slices after the log's lock is released, so none of that may change
// what they see.
func TestCacheNeverChangesReturnedEntries(t *testing.T) {
	cache := entryCache{limit: 1 << 20}
	cache.append(makeEntries(1, 10, 1))
	held := cache.slice(1, 11)
	want := slices.Clone(held)
	cache.append(makeEntries(5, 8, 2)) // a conflicting suffix
	cache.dropThrough(3)
	cache.limit = 2 * (raft.Entry{Data: make([]byte, 8)}).Size()
	cache.append(makeEntries(9, 12, 2)) // evicts all but the last few
	if !sameEntries(held, want) {
		t.Fatalf("entries returned earlier changed: got %v, want %v", held, want)
	}
	if got := cache.slice(cache.firstIndex(), 13); got[len(got)-1].Index != 12 || got[0].Term != 2 {
		t.Fatalf("cache holds %v", got)
	}
}
