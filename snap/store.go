package snap

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

const (
	fileSuffix      = ".snap"
	temporarySuffix = ".tmp"
)

// Options configure a Store. The zero value selects the defaults.
type Options struct {
	// Retain is how many of the newest snapshots are kept. Default 3.
	Retain int
}

// Store is a directory of snapshot files.
//
// Threading contract: all methods are safe for concurrent use and
// serialized by the Store (SaveFrom writes its file before it takes the
// lock). The runtime calls Save after the application
// produced a snapshot (or one arrived from the leader), before it tells the
// log about it (wal.Storage.Compact or ApplySnapshot): the log may then
// discard entries the snapshot covers. Load and Data are called at start
// and when the core asks for the snapshot. A transport streams snapshots
// through OpenData (sending) and Receive (receiving); the runtime then
// calls Install instead of Save.
type Store struct {
	fileSystem vfs.FS
	dir        string
	retain     int
	mu         sync.Mutex
	// staged maps a snapshot's file name to the finished incoming file
	// that holds it (see Receive and Install); received numbers incoming
	// files, so that two transfers of one snapshot never share a file.
	staged   map[string]string
	received uint64
	// saves numbers SaveFrom's temporary files, written outside the lock.
	saves uint64
}

// Open opens the snapshot directory dir, creating it if needed, and
// deletes the temporary files of saves and transfers that a crash
// interrupted.
func Open(fileSystem vfs.FS, dir string, options Options) (*Store, error) {
	if options.Retain <= 0 {
		options.Retain = 3
	}
	if err := fileSystem.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("snap: create directory %s: %w", dir, err)
	}
	names, err := fileSystem.List(dir)
	if err != nil {
		return nil, fmt.Errorf("snap: list directory %s: %w", dir, err)
	}
	for _, name := range names {
		if isUnfinished(name) {
			if err := fileSystem.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("snap: remove unfinished snapshot %s: %w", name, err)
			}
		}
	}
	// Always, not only after a removal: a Save whose directory fsync
	// failed (the process then stopped) left its snapshot under its name
	// but not durably, and this process will load it and build on it.
	if err := fileSystem.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("snap: sync directory %s: %w", dir, err)
	}
	return &Store{fileSystem: fileSystem, dir: dir, retain: options.Retain, staged: map[string]string{}}, nil
}

// fileName is "<index>-<term>.snap", both as 16 hex digits, so that names
// sort by index.
func fileName(index, term uint64) string {
	return fmt.Sprintf("%016x-%016x%s", index, term, fileSuffix)
}

func parseFileName(name string) (index, term uint64, ok bool) {
	if _, err := fmt.Sscanf(name, "%016x-%016x"+fileSuffix, &index, &term); err != nil {
		return 0, 0, false
	}
	return index, term, fileName(index, term) == name
}

// Save writes snapshot durably: to a temporary file, fsynced, renamed into
// place, directory fsynced. When it returns nil the snapshot survives a
// crash. It then removes snapshots beyond the newest Retain; a failure to
// remove is returned, but the new snapshot is durable all the same.
func (s *Store) Save(snapshot raft.Snapshot) error {
	return s.SaveFrom(snapshot.Metadata, snapshot.Data, nil)
}

// SaveFrom is Save for a snapshot whose data is prefix followed by what
// image yields (image may be nil): the data is streamed into the file and
// never held whole in memory, so a large state machine costs no more than
// a buffer to capture. The image is read to its end but not closed.
//
// The data is written without holding the store's lock, into a temporary
// file of its own, so that a store-sized image being saved delays none of
// the store's other calls (the runtime reads snapshot headers on its loop).
// The lock is taken for the rename and the removal of old snapshots. Of
// two saves of one snapshot at once, the last to finish stays in place.
func (s *Store) SaveFrom(metadata raft.SnapshotMetadata, prefix []byte, image io.Reader) error {
	name := fileName(metadata.Index, metadata.Term)
	s.mu.Lock()
	s.saves++
	temporary := filepath.Join(s.dir, fmt.Sprintf("%s.%d%s%s", strings.TrimSuffix(name, fileSuffix), s.saves, fileSuffix, temporarySuffix))
	s.mu.Unlock()
	file, err := s.fileSystem.Create(temporary)
	if err != nil {
		return fmt.Errorf("snap: create %s: %w", temporary, err)
	}
	writeErr := writeFile(file, metadata, prefix, image)
	if writeErr == nil {
		writeErr = file.Sync()
	}
	closeErr := file.Close()
	if writeErr != nil || closeErr != nil {
		s.fileSystem.Remove(temporary) // Open would remove it after a crash
		return fmt.Errorf("snap: write %s: %w", temporary, errors.Join(writeErr, closeErr))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fileSystem.Rename(temporary, filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("snap: rename %s: %w", temporary, err)
	}
	if err := s.fileSystem.SyncDir(s.dir); err != nil {
		return fmt.Errorf("snap: sync directory %s after saving %s: %w", s.dir, name, err)
	}
	return s.removeOld()
}

// removeOld removes all but the newest Retain snapshots.
func (s *Store) removeOld() error {
	names, err := s.names()
	if err != nil {
		return err
	}
	if len(names) <= s.retain {
		return nil
	}
	for _, name := range names[:len(names)-s.retain] {
		if err := s.fileSystem.Remove(filepath.Join(s.dir, name)); err != nil {
			return fmt.Errorf("snap: remove old snapshot %s: %w", name, err)
		}
	}
	if err := s.fileSystem.SyncDir(s.dir); err != nil {
		return fmt.Errorf("snap: sync directory %s after removing old snapshots: %w", s.dir, err)
	}
	return nil
}

// names returns the snapshot file names, oldest first.
func (s *Store) names() ([]string, error) {
	entries, err := s.fileSystem.List(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snap: list directory %s: %w", s.dir, err)
	}
	var names []string
	for _, name := range entries {
		if _, _, ok := parseFileName(name); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Names returns the snapshot file names, oldest first.
func (s *Store) Names() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names()
}

// Load returns the newest snapshot that passes verification. A newer one
// that fails is skipped (its content cannot be trusted, and an older
// snapshot plus the log may still cover the state); the caller learns of
// it only if the log then does not cover the gap. If no snapshot exists it
// returns ErrNoSnapshot; if snapshots exist but none verifies, the
// *CorruptionError of the newest.
func (s *Store) Load() (raft.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.names()
	if err != nil {
		return raft.Snapshot{}, err
	}
	return newestVerified(names, s.read)
}

// newestVerified returns what load gives for the newest of names (oldest
// first) that loads: a *CorruptionError skips to the next older one, any
// other error ends the search. With no names it returns ErrNoSnapshot;
// if none verifies, the newest's *CorruptionError.
func newestVerified[T any](names []string, load func(name string) (T, error)) (T, error) {
	var zero T
	if len(names) == 0 {
		return zero, ErrNoSnapshot
	}
	var newestErr error
	for i := len(names) - 1; i >= 0; i-- {
		loaded, err := load(names[i])
		if err == nil {
			return loaded, nil
		}
		var corruption *CorruptionError
		if !errors.As(err, &corruption) {
			return zero, err
		}
		if newestErr == nil {
			newestErr = err
		}
	}
	return zero, newestErr
}

// Data returns the data of the snapshot with exactly the given index and
// term, verified. Its signature fits wal.Options.SnapshotData.
func (s *Store) Data(metadata raft.SnapshotMetadata) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snapshot, err := s.read(fileName(metadata.Index, metadata.Term))
	if err != nil {
		return nil, err
	}
	return snapshot.Data, nil
}

// read loads and verifies the named snapshot file.
func (s *Store) read(name string) (raft.Snapshot, error) {
	path := filepath.Join(s.dir, name)
	file, err := s.fileSystem.Open(path)
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("snap: open %s: %w", path, err)
	}
	defer file.Close()
	size, err := file.Size()
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("snap: size of %s: %w", path, err)
	}
	content := make([]byte, size)
	if _, err := file.ReadAt(content, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return raft.Snapshot{}, fmt.Errorf("snap: read %s: %w", path, err)
	}
	snapshot, err := decode(content)
	if err != nil {
		return raft.Snapshot{}, &CorruptionError{File: path, Reason: err.Error()}
	}
	index, term, _ := parseFileName(name)
	if snapshot.Metadata.Index != index || snapshot.Metadata.Term != term {
		return raft.Snapshot{}, &CorruptionError{File: path, Reason: fmt.Sprintf("content is snapshot %d (term %d), the name says otherwise", snapshot.Metadata.Index, snapshot.Metadata.Term)}
	}
	return snapshot, nil
}
