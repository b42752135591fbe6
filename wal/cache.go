package wal

import "github.com/lockstepdb/lockstep/raft"

// entryCache holds the most recent entries of the log, contiguous and
// ending at the last index, up to a byte budget, so that the core reads
// what it just wrote (and what followers lagging a little need) without
// touching the disk. It is guarded by the Log's mutex.
//
// Entries returns slices of the cache to readers, who use them after the
// lock is released, so the cache never writes to an element it has held:
// it only appends past its end, and after dropping a suffix it appends to
// a new array. Dropped elements are therefore not cleared; their data stays
// referenced until append replaces the array (at most about as many
// elements as the cache holds).
type entryCache struct {
	entries []raft.Entry
	bytes   uint64
	limit   uint64
}

func (c *entryCache) firstIndex() uint64 {
	if len(c.entries) == 0 {
		return 0
	}
	return c.entries[0].Index
}

// append adds contiguous entries that follow or replace the cached ones.
// An entry below the cached range replaces everything cached.
func (c *entryCache) append(entries []raft.Entry) {
	if len(entries) == 0 {
		return
	}
	first := entries[0].Index
	if len(c.entries) > 0 && first >= c.firstIndex() && first <= c.entries[len(c.entries)-1].Index+1 {
		if keep := first - c.firstIndex(); keep < uint64(len(c.entries)) {
			for _, removed := range c.entries[keep:] {
				c.bytes -= removed.Size()
			}
			// Cap the slice so that the appends below go to a new array:
			// a reader may still hold the replaced entries.
			c.entries = c.entries[:keep:keep]
		}
	} else {
		c.reset()
	}
	if need := len(c.entries) + len(entries); need > cap(c.entries) {
		// Leave room for as many entries again: the array is replaced
		// only after that many appends, so each appended entry costs about
		// one copy (append's own growth, 1.25x for large slices, would
		// copy the cache every few batches, holding the writer).
		grown := make([]raft.Entry, len(c.entries), 2*need)
		copy(grown, c.entries)
		c.entries = grown
	}
	c.entries = append(c.entries, entries...)
	for _, entry := range entries {
		c.bytes += entry.Size()
	}
	c.evict(0)
}

// dropThrough removes cached entries with an index at or below index.
func (c *entryCache) dropThrough(index uint64) {
	if len(c.entries) == 0 || index < c.firstIndex() {
		return
	}
	c.evict(min(index-c.firstIndex()+1, uint64(len(c.entries))))
}

// evict removes at least count entries from the front, and more until the
// cache fits its budget.
func (c *entryCache) evict(count uint64) {
	removed := uint64(0)
	for removed < uint64(len(c.entries)) && (removed < count || c.bytes > c.limit) {
		c.bytes -= c.entries[removed].Size()
		removed++
	}
	if removed == 0 {
		return
	}
	c.entries = c.entries[removed:]
	if len(c.entries) == 0 {
		c.entries = nil
	}
}

func (c *entryCache) reset() {
	c.entries = nil
	c.bytes = 0
}

// slice returns the cached entries in [low, high), which must lie within
// the cached range, capped so that appending to the result cannot write
// into the cache.
func (c *entryCache) slice(low, high uint64) []raft.Entry {
	first := c.firstIndex()
	return c.entries[low-first : high-first : high-first]
}
