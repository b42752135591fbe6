package kv

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// storeState is the store's meta data: stored under the meta keys in the
// same batch as the changes it describes.
type storeState struct {
	// applied is the Raft index of the last applied entry.
	applied uint64
	// revision is the current revision: 1 on an empty store.
	revision int64
	// compacted is the revision of the last compaction, -1 before the
	// first (as etcd's compactMainRev).
	compacted int64
	// cursorMain and cursorSub locate the next event log entry physical
	// compaction will visit; entries before it below compacted are gone.
	cursorMain, cursorSub int64
}

// initialState is the state of an empty store.
func initialState() storeState {
	return storeState{revision: 1, compacted: -1}
}

// write stores the state in batch.
func (s storeState) write(batch *pebble.Batch) error {
	values := []struct {
		key   []byte
		value []byte
	}{
		{metaFormatKey, []byte(formatVersion)},
		{metaAppliedKey, encodeUint64(s.applied)},
		{metaRevisionKey, encodeUint64(uint64(s.revision))},
		{metaCompactedKey, encodeUint64(uint64(s.compacted))},
		{metaCompactCursorKey, append(encodeUint64(uint64(s.cursorMain)), encodeUint64(uint64(s.cursorSub))...)},
	}
	for _, entry := range values {
		if err := batch.Set(entry.key, entry.value, nil); err != nil {
			return fmt.Errorf("kv: write meta %s: %w", entry.key, err)
		}
	}
	return nil
}

// loadState reads the state from reader; a reader without a format key is
// an empty store.
func loadState(reader pebble.Reader) (state storeState, empty bool, err error) {
	format, err := getValue(reader, metaFormatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return initialState(), true, nil
	}
	if err != nil {
		return state, false, err
	}
	if string(format) != formatVersion {
		return state, false, fmt.Errorf("kv: store format %q, this version reads %q", format, formatVersion)
	}
	applied, err := readMetaNumber(reader, metaAppliedKey)
	if err != nil {
		return state, false, err
	}
	revision, err := readMetaNumber(reader, metaRevisionKey)
	if err != nil {
		return state, false, err
	}
	compacted, err := readMetaNumber(reader, metaCompactedKey)
	if err != nil {
		return state, false, err
	}
	state.applied, state.revision, state.compacted = applied, int64(revision), int64(compacted)
	cursor, err := getValue(reader, metaCompactCursorKey)
	if err != nil {
		return state, false, fmt.Errorf("kv: read meta %s: %w", metaCompactCursorKey, err)
	}
	if len(cursor) != 16 {
		return state, false, fmt.Errorf("kv: meta %s has %d bytes, want 16", metaCompactCursorKey, len(cursor))
	}
	main, _ := decodeUint64("cursor", cursor[:8])
	sub, _ := decodeUint64("cursor", cursor[8:])
	state.cursorMain, state.cursorSub = int64(main), int64(sub)
	if state.revision < 1 || state.compacted > state.revision {
		return state, false, fmt.Errorf("kv: meta revision %d, compacted %d: inconsistent", state.revision, state.compacted)
	}
	return state, false, nil
}

// readMetaNumber reads one 8-byte meta value.
func readMetaNumber(reader pebble.Reader, key []byte) (uint64, error) {
	value, err := getValue(reader, key)
	if err != nil {
		return 0, fmt.Errorf("kv: read meta %s: %w", key, err)
	}
	return decodeUint64(string(key), value)
}

// getValue reads one value from reader and copies it.
func getValue(reader pebble.Reader, key []byte) ([]byte, error) {
	value, closer, err := reader.Get(key)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), value...), nil
}
