package snap

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strings"

	"github.com/lockstepdb/lockstep/internal/mutation"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// incomingSuffix ends the name of a snapshot received from a leader and
// not yet installed. Open removes such files: a transfer does not survive
// a restart (the leader sends the snapshot again).
const incomingSuffix = ".incoming"

// Incoming receives a snapshot from a leader straight into a file of the
// store, so that a follower never holds a whole snapshot in memory. Write
// the data in order, then Finish; the snapshot is then staged, and Install
// moves it into place once the runtime has accepted it. Abort discards it.
// It is not safe for concurrent use; several may be open at once.
type Incoming struct {
	store    *Store
	metadata raft.SnapshotMetadata
	file     vfs.File
	path     string
	offset   int64 // of the next data byte in the file
	end      int64
	checksum uint32
	done     bool
}

// Receive creates the file for an incoming snapshot of size data bytes.
func (s *Store) Receive(metadata raft.SnapshotMetadata, size uint64) (*Incoming, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received++
	path := filepath.Join(s.dir, fmt.Sprintf("%s.%d%s", fileName(metadata.Index, metadata.Term), s.received, incomingSuffix))
	file, err := s.fileSystem.Create(path)
	if err != nil {
		return nil, fmt.Errorf("snap: create %s: %w", path, err)
	}
	head := encodeHead(metadata, size)
	if _, err := file.WriteAt(head, 0); err != nil {
		file.Close()
		s.fileSystem.Remove(path)
		return nil, fmt.Errorf("snap: write %s: %w", path, err)
	}
	offset := int64(len(head))
	return &Incoming{store: s, metadata: metadata, file: file, path: path, offset: offset, end: offset + int64(size),
		checksum: crc32.Checksum(head, castagnoli)}, nil
}

// Write appends data; more than the announced size is an error.
func (in *Incoming) Write(p []byte) (int, error) {
	if in.done {
		return 0, fmt.Errorf("snap: write to %s after Finish or Abort", in.path)
	}
	if int64(len(p)) > in.end-in.offset {
		return 0, fmt.Errorf("snap: %d bytes more than the %d announced for %s", int64(len(p))-(in.end-in.offset), in.end, in.path)
	}
	n, err := in.file.WriteAt(p, in.offset)
	in.checksum = crc32.Update(in.checksum, castagnoli, p[:n])
	in.offset += int64(n)
	if err != nil {
		return n, fmt.Errorf("snap: write %s: %w", in.path, err)
	}
	return n, nil
}

// Finish checks that every announced byte arrived, writes the checksum,
// makes the file durable and stages it for Install. It replaces a staged
// copy of the same snapshot, if any.
func (in *Incoming) Finish() error {
	if in.done {
		return fmt.Errorf("snap: %s already finished or aborted", in.path)
	}
	if in.offset != in.end {
		in.Abort()
		return fmt.Errorf("snap: %s: %d bytes missing", in.path, in.end-in.offset)
	}
	in.done = true
	_, err := in.file.WriteAt(binary.LittleEndian.AppendUint32(nil, in.checksum), in.offset)
	if err == nil && !mutation.On(mutation.SnapshotSkipFsync) {
		err = in.file.Sync()
	}
	if closeErr := in.file.Close(); err == nil {
		err = closeErr
	}
	s := in.store
	if err != nil {
		s.fileSystem.Remove(in.path)
		return fmt.Errorf("snap: write %s: %w", in.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Only a copy of the same snapshot is replaced: the message of any
	// other staged snapshot may be queued for the runtime, which would then
	// find its file gone. Install removes those it makes stale.
	name := fileName(in.metadata.Index, in.metadata.Term)
	if previous, ok := s.staged[name]; ok {
		s.fileSystem.Remove(previous)
	}
	s.staged[name] = in.path
	return nil
}

// Abort discards a snapshot being received.
func (in *Incoming) Abort() {
	if in.done {
		return
	}
	in.done = true
	in.file.Close()
	in.store.fileSystem.Remove(in.path)
}

// Install moves the staged snapshot with exactly the given index and term
// into place, durably (rename, then the directory fsynced), as Save would
// have written it; the runtime calls it once the core has accepted the
// snapshot, before telling the log. It first reads the staged file back
// whole and refuses it if it does not verify (the transfer was checked in
// memory; this checks what reached the disk), so that the log never points
// at a damaged snapshot. Staged snapshots at or below its index, which
// the core will ignore, are discarded; it then removes snapshots beyond
// the newest Retain, as Save does.
func (s *Store) Install(metadata raft.SnapshotMetadata) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := fileName(metadata.Index, metadata.Term)
	path, ok := s.staged[name]
	if !ok {
		return fmt.Errorf("snap: no received snapshot %d (term %d) to install", metadata.Index, metadata.Term)
	}
	if err := verifyFile(s.fileSystem, path, metadata); err != nil {
		return err
	}
	delete(s.staged, name)
	if err := s.fileSystem.Rename(path, filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("snap: rename %s: %w", path, err)
	}
	s.discardStagedLocked(metadata.Index)
	if err := s.fileSystem.SyncDir(s.dir); err != nil {
		return fmt.Errorf("snap: sync directory %s after installing %s: %w", s.dir, name, err)
	}
	return s.removeOld()
}

// DiscardStaged removes staged snapshots at or below index: the runtime
// calls it once its state machine has applied index, when the core can no
// longer accept them, so that a received snapshot the core ignored (stale,
// or one whose last entry the follower's log already held) does not hold
// its disk space until the next install or restart.
func (s *Store) DiscardStaged(index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discardStagedLocked(index)
}

// discardStagedLocked is DiscardStaged for callers that hold s.mu.
func (s *Store) discardStagedLocked(index uint64) {
	for name, path := range s.staged {
		if stagedIndex, _, _ := parseFileName(name); stagedIndex <= index {
			s.fileSystem.Remove(path)
			delete(s.staged, name)
		}
	}
}

// isUnfinished says whether a file name is a save or a transfer that did
// not complete: Open removes those.
func isUnfinished(name string) bool {
	return strings.HasSuffix(name, fileSuffix+temporarySuffix) || strings.HasSuffix(name, incomingSuffix)
}
