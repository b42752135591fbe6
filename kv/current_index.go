package kv

import (
	"bytes"
	"hash/maphash"
)

// currentIndex holds, in memory, the metadata of live keys' current
// versions (create and mod revision, version, lease): what a put needs
// to know of the version it replaces, without its value. It is a cache of
// the current table, written through by every write of the applier, so a
// put that finds its key here reads nothing from Pebble. In a store of
// 200,000 keys of 1 KiB, that lookup was two thirds of Apply's time
// (BenchmarkApplyPutBigStore): the key's record is rarely in the block
// cache, and its value sits in a blob file, read with it.
//
// Only the applier uses it, from the goroutine that calls Apply and
// Restore, so it has no lock. Each database has its own: a Restore starts
// from an empty one.
//
// It holds no pointers, so the garbage collector does not scan it: keys
// live in one byte arena, and an open-addressed hash table of slot numbers
// finds them. With a map of strings instead, a store of 4,000,000 keys
// filled at 17,077 keys/s, against 20,705 without an index and 19,140
// with a pointer-free one (lockstep bench big-store, one run each): the
// collector scanned the map's keys at every cycle. The table replaced a
// map from hashes to slots: 67 bytes a key with 8-byte keys, against 94
// (TestCurrentIndexBytesPerKey).
type currentIndex struct {
	hash func(key []byte) uint64 // maphash (tests make keys collide)
	// table is a hash table with linear probing: each entry holds the low
	// 32 bits of a key's hash above its slot number plus one (zero: empty).
	// Its length is a power of two, and at most three quarters are used.
	table []uint64
	slots []indexSlot
	keys  []byte  // every slot's key, at its keyOffset
	free  []int32 // slots no key uses
	// garbage counts the bytes of keys no slot uses any more; compactKeys
	// gives them back once they are half the arena.
	garbage     int
	compactions int // how many times compactKeys ran (tests)
	limit       int
	// complete: every live key of the store is in the index or in
	// evicted, so a key in neither is absent. True for a store that held
	// no key when it was opened, until evicted is full.
	complete bool
	evicted  evictedKeys
	// victim is where the search for a key to evict starts: a
	// pseudo-random walk over the table.
	victim uint64
}

// indexSlot is one key of the index; a free slot has keyOffset
// freeSlotOffset.
type indexSlot struct {
	metadata  currentMetadata
	keyOffset uint32
	keyLength uint32
}

// freeSlotOffset marks a slot no key uses.
const freeSlotOffset = ^uint32(0)

// inUse says whether a key uses the slot.
func (s *indexSlot) inUse() bool { return s.keyOffset != freeSlotOffset }

// currentMetadata is a live key's current version, less its value.
type currentMetadata struct {
	create, mod, version, lease int64
}

// defaultCurrentIndexKeys is how many keys the index holds unless
// Options.CurrentIndexKeys says otherwise: at about 67 bytes a key and
// the key itself, about 330 MiB with 16-byte keys when a store has that
// many, which covers the whole key space of most stores (etcd keeps an
// index of every key in memory too, and its peak was 5 GiB at 4,000,000
// keys of 1 KiB).
const defaultCurrentIndexKeys = 1 << 22

// maxCurrentIndexKeys bounds the index's limit: slot numbers are int32,
// and the table's entries hold a slot number plus one in 32 bits.
const maxCurrentIndexKeys = 1 << 30

// maxIndexArena bounds the key arena, whose offsets are 32 bits (and never
// freeSlotOffset).
const maxIndexArena = 1 << 31

// Entries of the table.
const (
	entrySlotBits = 32
	entrySlotMask = 1<<entrySlotBits - 1
	minTableSize  = 16
)

// newCurrentIndex returns an empty index of at most limit keys; complete
// says whether the store has no live key.
func newCurrentIndex(limit int, complete bool) *currentIndex {
	limit = min(limit, maxCurrentIndexKeys)
	seed := maphash.MakeSeed()
	hash := func(key []byte) uint64 { return maphash.Bytes(seed, key) }
	return &currentIndex{hash: hash, limit: limit, complete: complete && limit > 0}
}

// entryFor is the table entry of slot, whose key has hash.
func entryFor(hash uint64, slot int32) uint64 {
	return uint64(uint32(hash))<<entrySlotBits | uint64(slot+1)
}

// entrySlot is the slot of a used entry.
func entrySlot(entry uint64) int32 { return int32(entry&entrySlotMask) - 1 }

// home is the position at which a key of hash (or an entry) is first looked for.
func (x *currentIndex) home(hash uint64) int { return int(uint32(hash)) & (len(x.table) - 1) }

// find returns key's hash and, if the index holds it, its position in the
// table and its slot (both -1 if absent).
func (x *currentIndex) find(key []byte) (hash uint64, position int, slot int32) {
	hash = x.hash(key)
	if len(x.table) == 0 {
		return hash, -1, -1
	}
	tag := uint64(uint32(hash))
	mask := len(x.table) - 1
	for position = x.home(hash); ; position = (position + 1) & mask {
		entry := x.table[position]
		if entry == 0 {
			return hash, -1, -1
		}
		if entry>>entrySlotBits == tag && bytes.Equal(x.keyOf(entrySlot(entry)), key) {
			return hash, position, entrySlot(entry)
		}
	}
}

// keyOf returns the key of a used slot, in the arena.
func (x *currentIndex) keyOf(slot int32) []byte {
	s := &x.slots[slot]
	return x.keys[s.keyOffset : s.keyOffset+s.keyLength]
}

// lookup returns key's metadata. known false means the index cannot say,
// and the current table must be read.
func (x *currentIndex) lookup(key []byte) (metadata currentMetadata, found, known bool) {
	hash, _, slot := x.find(key)
	if slot >= 0 {
		return x.slots[slot].metadata, true, true
	}
	return currentMetadata{}, false, x.complete && !x.evicted.mayContain(hash)
}

// set records key's new current version. A full index evicts another key
// first.
func (x *currentIndex) set(key []byte, metadata currentMetadata) {
	hash, _, slot := x.find(key)
	if slot >= 0 {
		x.slots[slot].metadata = metadata
		return
	}
	if x.limit <= 0 {
		return
	}
	if x.count() >= x.limit {
		x.evictOne()
	}
	if len(x.keys)+len(key) > maxIndexArena {
		x.compactKeys()
		if len(x.keys)+len(key) > maxIndexArena {
			x.notHeld(hash) // keys this long are read from the store
			return
		}
	}
	if n := len(x.free); n > 0 {
		slot, x.free = x.free[n-1], x.free[:n-1]
	} else {
		slot = int32(len(x.slots))
		x.slots = append(x.slots, indexSlot{})
	}
	x.slots[slot] = indexSlot{metadata: metadata, keyOffset: uint32(len(x.keys)), keyLength: uint32(len(key))}
	x.keys = append(x.keys, key...)
	if x.count()*4 > len(x.table)*3 { // count includes the new key
		x.grow()
	}
	x.insert(entryFor(hash, slot))
}

// insert puts entry at the first empty position from its home.
func (x *currentIndex) insert(entry uint64) {
	mask := len(x.table) - 1
	position := x.home(entry >> entrySlotBits)
	for x.table[position] != 0 {
		position = (position + 1) & mask
	}
	x.table[position] = entry
}

// grow doubles the table (or makes the first one) and puts every entry
// back.
func (x *currentIndex) grow() {
	old := x.table
	x.table = make([]uint64, max(minTableSize, 2*len(old)))
	for _, entry := range old {
		if entry != 0 {
			x.insert(entry)
		}
	}
}

// count returns how many keys the index holds.
func (x *currentIndex) count() int { return len(x.slots) - len(x.free) }

// remove forgets key, deleted from the store.
func (x *currentIndex) remove(key []byte) {
	if _, position, slot := x.find(key); slot >= 0 {
		x.removeAt(position, slot)
	}
}

// removeAt frees slot, whose entry is at position, and closes the gap in
// the table: each entry after it, up to an empty position, moves back into
// the gap if the gap lies between its home and where it is (so that a
// search from its home, which stops at the first empty position, still
// finds it).
func (x *currentIndex) removeAt(position int, slot int32) {
	mask := len(x.table) - 1
	gap := position
	for next := (gap + 1) & mask; x.table[next] != 0; next = (next + 1) & mask {
		home := x.home(x.table[next] >> entrySlotBits)
		// Move it unless its home lies cyclically in (gap, next].
		if (next-home)&mask >= (next-gap)&mask {
			x.table[gap] = x.table[next]
			gap = next
		}
	}
	x.table[gap] = 0
	x.garbage += int(x.slots[slot].keyLength)
	x.slots[slot] = indexSlot{keyOffset: freeSlotOffset}
	x.free = append(x.free, slot)
	if x.garbage > 1<<20 && x.garbage > len(x.keys)/2 {
		x.compactKeys()
	}
}

// evictOne forgets a key at a pseudo-random position, to stay within the
// limit.
func (x *currentIndex) evictOne() {
	mask := len(x.table) - 1
	x.victim = x.victim*6364136223846793005 + 1442695040888963407
	for position := int(x.victim>>33) & mask; ; position = (position + 1) & mask {
		if entry := x.table[position]; entry != 0 {
			slot := entrySlot(entry)
			hash := x.hash(x.keyOf(slot))
			x.removeAt(position, slot)
			x.notHeld(hash)
			return
		}
	}
}

// notHeld records that a live key of hash is not in the index: in
// evicted, or, once that is full, by no longer being complete.
func (x *currentIndex) notHeld(hash uint64) {
	if x.complete && !x.evicted.add(hash) {
		x.complete = false
	}
}

// compactKeys copies the keys slots use into a new arena, leaving out the
// garbage.
func (x *currentIndex) compactKeys() {
	keys := make([]byte, 0, len(x.keys)-x.garbage)
	for i := range x.slots {
		s := &x.slots[i]
		if !s.inUse() {
			continue
		}
		offset := uint32(len(keys))
		keys = append(keys, x.keys[s.keyOffset:s.keyOffset+s.keyLength]...)
		s.keyOffset = offset
	}
	x.keys, x.garbage = keys, 0
	x.compactions++
}

// reset forgets every key: the applier calls it when a batch it wrote
// through the index was not committed (nothing recovers from Apply's
// panics today, so this only keeps the index true if something does).
func (x *currentIndex) reset() {
	clear(x.table)
	x.slots, x.keys, x.free, x.garbage = x.slots[:0], x.keys[:0], x.free[:0], 0
	x.complete = false
	x.evicted.clear()
}

// currentIndex returns the database's index of current versions, made on
// first use: complete if the store holds no live key. Called from Apply's
// goroutine only.
func (d *database) currentIndex(limit int) *currentIndex {
	if d.index == nil {
		empty, err := tableIsEmpty(d.db, currentPrefix)
		d.index = newCurrentIndex(limit, empty && err == nil)
	}
	return d.index
}

// currentVersion returns key's current version (found false: absent):
// from the index when it knows, without the value; else, or when the key
// is live and withValue is set, read from the batch, value included, and
// remembered in the index. (An absent key has no value to read, so a put
// of a new key reads nothing even when watchers want previous values, as
// Kubernetes' do.)
func (a *applier) currentVersion(key []byte, withValue bool) (r record, found bool) {
	if metadata, found, known := a.index.lookup(key); known && (!found || !withValue) {
		return metadata.record(), found
	}
	r, found, err := currentRecord(a.batch, key)
	a.must(err)
	if found {
		a.index.set(key, r.metadata())
	}
	return r, found
}

// metadata returns r less its value.
func (r *record) metadata() currentMetadata {
	return currentMetadata{create: r.create, mod: r.mod, version: r.version, lease: r.lease}
}

// record returns the version metadata describes, without a value.
func (m currentMetadata) record() record {
	return record{create: m.create, mod: m.mod, version: m.version, lease: m.lease}
}
