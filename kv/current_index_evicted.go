package kv

// evictedKeys remembers, in Bloom filters, the hashes of live keys the
// index of current versions does not hold (it evicted them), so that an
// index that started complete can still say a key is absent: a key in
// neither the index nor the filters was never written, or was deleted.
// Without it, every put of a new key into a store with more keys than the
// index holds read the current table first (a sixth of a leader's CPU
// while filling 4,000,000 keys). A false positive costs only that read.
//
// Each filter takes evictedFilterKeys hashes at 10 bits each (1.25 MiB,
// about 1% false positives); past maxEvictedFilters the index gives up
// and reads the store for every key it does not hold, as before.
type evictedKeys struct {
	filters []bloomFilter
}

const (
	evictedFilterKeys  = 1 << 20
	evictedFilterBits  = 10 * evictedFilterKeys
	evictedFilterProbe = 7 // probes per hash: optimal for 10 bits a key
	maxEvictedFilters  = 8
)

// bloomFilter is one filter of evictedKeys.
type bloomFilter struct {
	bits  []uint64
	count int
}

// add remembers hash; it reports false when the filters are full, and
// then forgets every hash.
func (e *evictedKeys) add(hash uint64) bool {
	if n := len(e.filters); n == 0 || e.filters[n-1].count >= evictedFilterKeys {
		if n == maxEvictedFilters {
			e.filters = nil
			return false
		}
		e.filters = append(e.filters, bloomFilter{bits: make([]uint64, evictedFilterBits/64)})
	}
	filter := &e.filters[len(e.filters)-1]
	for _, bit := range probes(hash) {
		filter.bits[bit/64] |= 1 << (bit % 64)
	}
	filter.count++
	return true
}

// mayContain reports whether hash may have been added.
func (e *evictedKeys) mayContain(hash uint64) bool {
	bits := probes(hash)
	for i := range e.filters {
		found := true
		for _, bit := range bits {
			if e.filters[i].bits[bit/64]&(1<<(bit%64)) == 0 {
				found = false
				break
			}
		}
		if found {
			return true
		}
	}
	return false
}

// probes returns the bits a hash sets, by double hashing its two halves.
func probes(hash uint64) [evictedFilterProbe]uint32 {
	var bits [evictedFilterProbe]uint32
	first, second := uint32(hash), uint32(hash>>32)|1
	for i := range bits {
		bits[i] = (first + uint32(i)*second) % evictedFilterBits
	}
	return bits
}

// clear forgets every hash.
func (e *evictedKeys) clear() { e.filters = nil }
