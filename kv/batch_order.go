package kv

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"
)

// Why Apply commits its writes grouped by table. Pebble inserts a batch
// into its memtable (a skiplist) in the batch's order, and each insert
// starts its search from where the one before ended: an insert next to
// the previous one costs a few comparisons, one elsewhere a full search
// from the top, whose node visits miss the processor's caches. A put
// writes three tables in turn (current, history, event: see record), so
// consecutive writes of a batch of puts land far apart even when the
// keys come in order; grouped by table they land in order. Profiles of
// followers under the put workload showed the memtable's searches at a
// tenth of their CPU.

// minimumToGroup is the fewest writes worth grouping: below it, the copy
// costs more than the searches it saves.
const minimumToGroup = 16

// groupedByTable returns a batch of batch's writes grouped by table (a
// key's first byte), in the order of the tables' first writes, each
// table's writes in their order; or nil to commit batch as it is: too
// few writes, a kind of write it does not regroup, or a range deletion
// that spans tables. The result is equivalent to batch: writes to one key
// keep their order, and so do a range deletion and every write its range
// covers, since both lie in one table. The caller commits the returned
// batch and closes both.
func groupedByTable(db *pebble.DB, batch *pebble.Batch) *pebble.Batch {
	if batch.Count() < minimumToGroup {
		return nil
	}
	// First pass: check every write, and note the tables in the order of
	// their first writes.
	var seen [256]bool
	var tables []byte
	reader := batch.Reader()
	for {
		kind, key, value, ok, err := reader.Next()
		if err != nil {
			return nil
		}
		if !ok {
			break
		}
		if len(key) == 0 {
			return nil
		}
		switch kind {
		case pebble.InternalKeyKindSet, pebble.InternalKeyKindDelete:
		case pebble.InternalKeyKindRangeDelete:
			if key[0] == 0xFF || bytes.Compare(value, []byte{key[0] + 1}) > 0 {
				return nil // the range reaches past its table
			}
		default:
			return nil
		}
		if !seen[key[0]] {
			seen[key[0]] = true
			tables = append(tables, key[0])
		}
	}
	if len(tables) < 2 {
		return nil
	}
	// Then one pass per table, which copies its writes in their order.
	grouped := db.NewBatchWithSize(len(batch.Repr()))
	for _, table := range tables {
		reader := batch.Reader()
		for {
			kind, key, value, ok, _ := reader.Next() // the first pass read them all
			if !ok {
				break
			}
			if key[0] != table {
				continue
			}
			var err error
			switch kind {
			case pebble.InternalKeyKindSet:
				err = grouped.Set(key, value, nil)
			case pebble.InternalKeyKindDelete:
				err = grouped.Delete(key, nil)
			case pebble.InternalKeyKindRangeDelete:
				err = grouped.DeleteRange(key, value, nil)
			}
			if err != nil {
				grouped.Close()
				return nil
			}
		}
	}
	return grouped
}
