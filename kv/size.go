package kv

import "github.com/cockroachdb/pebble/v2"

// minimumSize is what Size reports at least: etcdctl divides by the
// database size.
const minimumSize = 4096

// Size returns the bytes the store occupies (Pebble's files and
// memtables' memory) and an estimate of those holding live data: the
// total less what Pebble estimates the deletions in its files cover and
// the values in its blob files that nothing references (compaction removes versions
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
	garbage += blobGarbage(metrics)
	total = disk + memory
	inUse = max(disk-garbage, 0) + memory
	return max(total, minimumSize), max(inUse, minimumSize)
}

// blobGarbage estimates the bytes of blob files (see valueSeparation)
// that hold values no table references any more: their share of the blob
// values, applied to the files' size on disk. Pebble gives them back when
// it rewrites the files, and Defragment at once.
func blobGarbage(metrics *pebble.Metrics) int64 {
	blobs := metrics.BlobFiles
	if blobs.ValueSize == 0 || blobs.ReferencedValueSize >= blobs.ValueSize {
		return 0
	}
	unreferenced := float64(blobs.ValueSize-blobs.ReferencedValueSize) / float64(blobs.ValueSize)
	return int64(unreferenced * float64(blobs.Local.LiveSize))
}
