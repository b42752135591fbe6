package kv

import (
	"context"
	"fmt"
)

// Defragment gives back the disk space of what compaction removed: it has
// Pebble compact every table, so that the files are rewritten without the
// removed versions and the deletions that cover them. It is etcd's
// defragmentation, local to this member; reads and writes go on while it
// runs (Pebble compacts in the background of its readers and writers).
// Versions a compaction made unreachable but the store has not removed yet
// (CompactionPending) stay. It returns when Pebble is done or ctx ends.
func (s *Store) Defragment(ctx context.Context) error {
	database, err := s.acquire()
	if err != nil {
		return err
	}
	defer database.release()
	if err := database.db.Compact(ctx, []byte{0}, []byte{0xFF}, true); err != nil {
		return fmt.Errorf("kv: defragment: %w", err)
	}
	return nil
}
