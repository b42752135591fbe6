package kv

import (
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// restoreBatchSize is how many bytes Restore writes per Pebble batch.
const restoreBatchSize = 4 << 20

// Restore replaces the whole state with an image made by Snapshot, on
// this replica or another. The image is written into a new Pebble
// instance beside the current one, checked to the last byte, flushed,
// and only then made current by an atomic rename of CURRENT-STORE: a
// corrupt image, or a crash before the rename, leaves the old state as it
// was. Watchers continue from what they delivered, catching up from the
// new state, or are canceled if it compacted their next revision away.
// Called at start, or from the node's loop once its applier is idle.
func (s *Store) Restore(image io.Reader) error {
	if s.current == nil {
		return ErrClosed
	}
	name, err := s.directory.nextName()
	if err != nil {
		return err
	}
	replacement, err := openDatabase(s.directory.fs, s.directory.instancePath(name), true, s.options.CacheSize, s.logger, s.disk)
	if err != nil {
		return err
	}
	state, err := fillInstance(replacement.db, image)
	var auth *authState
	if err == nil {
		auth, err = loadAuthState(replacement.db)
	}
	var alarms alarmFlags
	if err == nil {
		alarms, err = loadAlarmFlags(replacement.db)
	}
	if err == nil {
		// Not Pebble's Flush, which waits for ever on a disk that fails
		// or is full.
		err = replacement.flushOrFull()
	}
	if err != nil {
		replacement.retire(true)
		return errors.Join(fmt.Errorf("kv: restore: %w", err), replacement.wait())
	}
	renamed, err := s.directory.writeCurrent(name)
	if !renamed {
		replacement.retire(true)
		return errors.Join(fmt.Errorf("kv: restore: %w", err), replacement.wait())
	}
	s.mu.Lock()
	previous := s.current
	s.current, s.committed, s.alarms = replacement, state, alarms
	s.auth.Store(auth)
	s.mu.Unlock()
	// If the directory sync failed, CURRENT-STORE may name either
	// instance after a crash: keep both for the next Open to settle.
	previous.retire(err == nil)
	s.watches.restored(state.revision)
	s.logger.Info("kv: restored from snapshot", "instance", name, "applied", state.applied, "revision", state.revision, "compacted", state.compacted)
	if err != nil {
		return fmt.Errorf("kv: restore: switched to the new state, but: %w", err)
	}
	return nil
}

// fillInstance writes an image's records into an empty Pebble instance
// and returns the state they describe.
func fillInstance(db *pebble.DB, image io.Reader) (storeState, error) {
	decoder, err := newImageDecoder(image)
	if err != nil {
		return storeState{}, err
	}
	batch := db.NewBatch()
	defer func() { batch.Close() }()
	for {
		key, value, done, err := decoder.next()
		if err != nil {
			return storeState{}, err
		}
		if done {
			break
		}
		if err := batch.Set(key, value, nil); err != nil {
			return storeState{}, err
		}
		if batch.Len() >= restoreBatchSize {
			if err := batch.Commit(pebble.NoSync); err != nil {
				return storeState{}, err
			}
			batch.Close()
			batch = db.NewBatch()
		}
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return storeState{}, err
	}
	state, empty, err := loadState(db)
	if err == nil && empty {
		err = fmt.Errorf("%w: no store meta data", errCorruptImage)
	}
	return state, err
}
