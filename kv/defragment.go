package kv

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
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
	// Rewriting the tables with values inline lets go of every blob file,
	// and so of the values in them that nothing references any more, which
	// a rewrite that kept the references would leave behind. Flushes and
	// compactions separate values again once it is done.
	database.inlineValues.Add(1)
	defer database.inlineValues.Add(-1)
	// Pebble's Compact moves each level's files into the next one but never
	// rewrites the last level by itself, where a store that has lived a
	// while keeps nearly everything. Deletions of two keys no table uses,
	// below and above every table, go into a file that overlaps all the
	// others, so that the compaction rewrites every file on its way down;
	// the deletions themselves are dropped in the last level.
	edges := database.db.NewBatch()
	defer edges.Close()
	for _, key := range [][]byte{{defragmentLow}, {defragmentHigh}} {
		if err := edges.Delete(key, nil); err != nil {
			return fmt.Errorf("kv: defragment: %w", err)
		}
	}
	if err := edges.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("kv: defragment: %w", err)
	}
	if err := database.db.Compact(ctx, []byte{defragmentLow}, []byte{defragmentHigh, 0}, true); err != nil {
		return fmt.Errorf("kv: defragment: %w", err)
	}
	return nil
}

// defragmentLow and defragmentHigh are keys below and above every table's
// prefix (see keys.go), never written: Defragment deletes them to make a
// file that spans the whole store.
const (
	defragmentLow  = 0x00
	defragmentHigh = 0xFF
)
