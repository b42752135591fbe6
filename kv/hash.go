package kv

import (
	"bytes"
	"fmt"
	"hash/crc32"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// HashKV returns a CRC-32C over every version of every key at or below
// revision (0: the current one) that the last compaction keeps: all
// versions above the compacted revision and, for each key, its latest
// version at or below it unless that is a deletion. Replicas that applied
// the same log give the same hash, whatever their physical compaction
// progress. It also returns the revision hashed and the compacted
// revision. A revision below the compacted one is ErrGRPCCompacted, above
// the current one ErrGRPCFutureRev. Callable from any goroutine; it reads
// the whole history.
func (s *Store) HashKV(revision int64) (hash uint32, hashRevision, compactRevision int64, err error) {
	view, err := s.openView()
	if err != nil {
		return 0, 0, 0, err
	}
	defer view.close()
	current, compacted := view.state.revision, view.state.compacted
	switch {
	case revision > current:
		return 0, 0, compacted, rpctypes.ErrGRPCFutureRev
	case revision > 0 && revision < compacted:
		return 0, 0, compacted, rpctypes.ErrGRPCCompacted
	case revision <= 0:
		revision = current
	}
	hash, err = hashHistory(view.snapshot, revision, compacted)
	return hash, revision, compacted, err
}

// hashHistory hashes the history table as HashKV describes.
func hashHistory(reader pebble.Reader, revision, compacted int64) (uint32, error) {
	lower, upper := tableBounds(historyPrefix)
	iterator, err := reader.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, fmt.Errorf("kv: hash: %w", err)
	}
	defer iterator.Close()
	hash := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	var keyPrefix []byte
	keptCompacted := false // the current key's version at or below compacted was seen
	for valid := iterator.First(); valid; valid = iterator.Next() {
		prefix, main, _, err := parseHistoryKey(iterator.Key())
		if err != nil {
			return 0, err
		}
		if !bytes.Equal(prefix, keyPrefix) {
			keyPrefix, keptCompacted = bytes.Clone(prefix), false
		}
		if main > revision {
			continue
		}
		value, err := iterator.ValueAndErr()
		if err != nil {
			return 0, fmt.Errorf("kv: hash: %w", err)
		}
		if main <= compacted {
			if keptCompacted {
				continue
			}
			keptCompacted = true
			if len(value) > 0 && value[0]&tombstoneFlag != 0 {
				continue
			}
		}
		hash.Write(iterator.Key())
		hash.Write(value)
	}
	if err := iterator.Error(); err != nil {
		return 0, fmt.Errorf("kv: hash: %w", err)
	}
	return hash.Sum32(), nil
}
