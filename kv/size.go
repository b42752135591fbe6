package kv

// minimumSize is what Size reports at least: etcdctl divides by the
// database size.
const minimumSize = 4096

// Size returns the bytes the store occupies (Pebble's files and
// memtables' memory) and an estimate of those holding live data: the
// total less what Pebble estimates the deletions in its files cover (compaction removes versions
// with range deletions, so after a compaction inUse falls to about the
// live data once Pebble has flushed the deletions, and total falls when
// Pebble's compactions or Defragment drop them). Both are at least 4096,
// and inUse is at most total. Callable from any goroutine; zeros on a
// closed store.
func (s *Store) Size() (total, inUse int64) {
	database, err := s.acquire()
	if err != nil {
		return 0, 0
	}
	defer database.release()
	metrics := database.db.Metrics()
	disk := int64(metrics.DiskSpaceUsage())
	memory := int64(metrics.MemTable.Size)
	// Pebble's estimate of what the deletions in its files cover can
	// exceed the files (it counts a covered file at each deletion over
	// it), so it is capped at the files' size.
	garbage := int64(metrics.Table.Garbage.PointDeletionsBytesEstimate + metrics.Table.Garbage.RangeDeletionsBytesEstimate)
	total = disk + memory
	inUse = max(disk-garbage, 0) + memory
	return max(total, minimumSize), max(inUse, minimumSize)
}
