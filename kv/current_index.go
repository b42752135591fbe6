package kv

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
type currentIndex struct {
	// slots maps a key to its position in metadata.
	slots    map[string]int32
	metadata []currentMetadata
	free     []int32 // positions of metadata no key uses
	limit    int
	// complete: every live key of the store is in the index, so a key
	// that is not is absent. True for a store that held no key when it
	// was opened, until the index first evicts a key.
	complete bool
}

// currentMetadata is a live key's current version, less its value.
type currentMetadata struct {
	create, mod, version, lease int64
}

// defaultCurrentIndexKeys is how many keys the index holds unless
// Options.CurrentIndexKeys says otherwise: about 90 MiB at most (a map
// entry, 32 bytes of metadata and the key), which covers the whole key
// space of most stores; etcd keeps an index of every key in memory too.
const defaultCurrentIndexKeys = 1 << 20

// newCurrentIndex returns an empty index of at most limit keys; complete
// says whether the store has no live key.
func newCurrentIndex(limit int, complete bool) *currentIndex {
	return &currentIndex{slots: make(map[string]int32), limit: limit, complete: complete && limit > 0}
}

// lookup returns key's metadata. known false means the index cannot say,
// and the current table must be read.
func (x *currentIndex) lookup(key []byte) (metadata currentMetadata, found, known bool) {
	if slot, ok := x.slots[string(key)]; ok {
		return x.metadata[slot], true, true
	}
	return currentMetadata{}, false, x.complete
}

// set records key's new current version. A full index evicts another key
// first, and is no longer complete.
func (x *currentIndex) set(key []byte, metadata currentMetadata) {
	if slot, ok := x.slots[string(key)]; ok {
		x.metadata[slot] = metadata
		return
	}
	if x.limit <= 0 {
		return
	}
	if len(x.slots) >= x.limit {
		x.evictOne()
	}
	var slot int32
	if n := len(x.free); n > 0 {
		slot, x.free = x.free[n-1], x.free[:n-1]
		x.metadata[slot] = metadata
	} else {
		slot = int32(len(x.metadata))
		x.metadata = append(x.metadata, metadata)
	}
	x.slots[string(key)] = slot
}

// remove forgets key, deleted from the store.
func (x *currentIndex) remove(key []byte) {
	if slot, ok := x.slots[string(key)]; ok {
		delete(x.slots, string(key))
		x.free = append(x.free, slot)
	}
}

// evictOne forgets an arbitrary key (the map's iteration order is
// random), to stay within the limit.
func (x *currentIndex) evictOne() {
	for key, slot := range x.slots {
		delete(x.slots, key)
		x.free = append(x.free, slot)
		break
	}
	x.complete = false
}

// reset forgets every key: the applier calls it when a batch it wrote
// through the index was not committed.
func (x *currentIndex) reset() {
	clear(x.slots)
	x.metadata, x.free = x.metadata[:0], x.free[:0]
	x.complete = false
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
// from the index when it knows and withValue is false, and then without
// the value; else read from the batch, value included, and remembered in
// the index.
func (a *applier) currentVersion(key []byte, withValue bool) (r record, found bool) {
	if !withValue {
		if metadata, found, known := a.index.lookup(key); known {
			return metadata.record(), found
		}
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
