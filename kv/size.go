package kv

// minimumSize is what Size reports at least: etcdctl divides by the
// database size.
const minimumSize = 4096

// Size returns the bytes the store occupies (Pebble's files and
// memtables) and an estimate of those holding live data; both are at
// least 4096, and inUse is at most total. Callable from any goroutine;
// zeros on a closed store.
func (s *Store) Size() (total, inUse int64) {
	database, err := s.acquire()
	if err != nil {
		return 0, 0
	}
	defer database.release()
	metrics := database.db.Metrics()
	memory := int64(metrics.MemTable.Size)
	total = int64(metrics.DiskSpaceUsage()) + memory
	estimate, err := database.db.EstimateDiskUsage([]byte{0}, []byte{0xFF})
	inUse = int64(estimate) + memory
	if err != nil || inUse > total {
		inUse = total
	}
	return max(total, minimumSize), max(inUse, minimumSize)
}
