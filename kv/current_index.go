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
// live in one byte arena, and a map from each key's hash to its slot
// finds them. With a map of strings instead, a store of 4,000,000 keys
// filled at 17,077 keys/s, against 20,705 without an index and 19,140
// with this one (lockstep bench big-store, one run each): the collector
// scanned the map's keys at every cycle.
type currentIndex struct {
	hash  func(key []byte) uint64 // maphash (tests make keys collide)
	heads map[uint64]int32        // a key's hash → the first slot of that hash
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
}

// indexSlot is one key of the index.
type indexSlot struct {
	metadata  currentMetadata
	keyOffset uint32
	keyLength uint32
	next      int32 // the next slot whose key has the same hash, or -1
	used      bool
}

// currentMetadata is a live key's current version, less its value.
type currentMetadata struct {
	create, mod, version, lease int64
}

// defaultCurrentIndexKeys is how many keys the index holds unless
// Options.CurrentIndexKeys says otherwise: about 100 MiB with 16-byte
// keys (about 88 bytes a key and the key itself), which covers the whole
// key space of most stores; etcd keeps an index of every key in memory
// too.
const defaultCurrentIndexKeys = 1 << 20

// maxIndexArena bounds the key arena, whose offsets are 32 bits.
const maxIndexArena = 1 << 31

// newCurrentIndex returns an empty index of at most limit keys; complete
// says whether the store has no live key.
func newCurrentIndex(limit int, complete bool) *currentIndex {
	seed := maphash.MakeSeed()
	hash := func(key []byte) uint64 { return maphash.Bytes(seed, key) }
	return &currentIndex{hash: hash, heads: make(map[uint64]int32), limit: limit, complete: complete && limit > 0}
}

// find returns key's hash, its slot (-1 if absent) and the slot before it
// with the same hash (-1 if it is the first).
func (x *currentIndex) find(key []byte) (hash uint64, slot, before int32) {
	hash = x.hash(key)
	slot, ok := x.heads[hash]
	if !ok {
		return hash, -1, -1
	}
	before = -1
	for slot >= 0 && !bytes.Equal(x.keyOf(slot), key) {
		before, slot = slot, x.slots[slot].next
	}
	return hash, slot, before
}

// keyOf returns the key of a used slot, in the arena.
func (x *currentIndex) keyOf(slot int32) []byte {
	s := &x.slots[slot]
	return x.keys[s.keyOffset : s.keyOffset+s.keyLength]
}

// lookup returns key's metadata. known false means the index cannot say,
// and the current table must be read.
func (x *currentIndex) lookup(key []byte) (metadata currentMetadata, found, known bool) {
	hash, slot, _ := x.find(key)
	if slot >= 0 {
		return x.slots[slot].metadata, true, true
	}
	return currentMetadata{}, false, x.complete && !x.evicted.mayContain(hash)
}

// set records key's new current version. A full index evicts another key
// first.
func (x *currentIndex) set(key []byte, metadata currentMetadata) {
	hash, slot, _ := x.find(key)
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
	next, chained := x.heads[hash]
	if !chained {
		next = -1
	}
	x.slots[slot] = indexSlot{metadata: metadata, keyOffset: uint32(len(x.keys)), keyLength: uint32(len(key)), next: next, used: true}
	x.keys = append(x.keys, key...)
	x.heads[hash] = slot
}

// count returns how many keys the index holds.
func (x *currentIndex) count() int { return len(x.slots) - len(x.free) }

// remove forgets key, deleted from the store.
func (x *currentIndex) remove(key []byte) {
	if hash, slot, before := x.find(key); slot >= 0 {
		x.unlink(hash, slot, before)
	}
}

// unlink frees slot, whose key has hash and follows before (-1: first).
func (x *currentIndex) unlink(hash uint64, slot, before int32) {
	next := x.slots[slot].next
	switch {
	case before >= 0:
		x.slots[before].next = next
	case next >= 0:
		x.heads[hash] = next
	default:
		delete(x.heads, hash)
	}
	x.garbage += int(x.slots[slot].keyLength)
	x.slots[slot] = indexSlot{}
	x.free = append(x.free, slot)
	if x.garbage > 1<<20 && x.garbage > len(x.keys)/2 {
		x.compactKeys()
	}
}

// evictOne forgets an arbitrary key (the map's iteration order is
// random), to stay within the limit.
func (x *currentIndex) evictOne() {
	for hash, slot := range x.heads {
		x.unlink(hash, slot, -1)
		x.notHeld(hash)
		break
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
		if !s.used {
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
	clear(x.heads)
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
