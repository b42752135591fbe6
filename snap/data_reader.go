package snap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// DataReader streams the data of one snapshot file, so that a leader can
// send a snapshot as large as its state machine without holding it in
// memory. It verifies the file as it goes: the last Read returns a
// *CorruptionError instead of io.EOF if the file's checksum does not
// match. It is not safe for concurrent use.
type DataReader struct {
	metadata  raft.SnapshotMetadata
	file      vfs.File
	path      string
	start     int64  // offset of the first data byte
	offset    int64  // of the next data byte in the file
	end       int64  // offset of the trailer
	headSum   uint32 // CRC-32C of the file up to start
	size      int64
	checksum  uint32 // CRC-32C of the file up to offset
	verified  bool
	corrupted error
}

// OpenData opens the data of the snapshot with exactly the given index
// and term for streaming. The header is verified now, the checksum as the
// data is read. Safe for concurrent use with the Store's other methods: a
// snapshot removed while open stays readable until Close.
func (s *Store) OpenData(metadata raft.SnapshotMetadata) (*DataReader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := filepath.Join(s.dir, fileName(metadata.Index, metadata.Term))
	file, err := s.fileSystem.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snap: open %s: %w", path, err)
	}
	reader, err := newDataReader(file, path, metadata)
	if err != nil {
		file.Close()
		return nil, err
	}
	return reader, nil
}

func newDataReader(file vfs.File, path string, metadata raft.SnapshotMetadata) (*DataReader, error) {
	corrupt := func(format string, args ...any) error {
		return &CorruptionError{File: path, Reason: fmt.Sprintf(format, args...)}
	}
	fileSize, err := file.Size()
	if err != nil {
		return nil, fmt.Errorf("snap: size of %s: %w", path, err)
	}
	if fileSize < headerSize+trailerSize {
		return nil, corrupt("file is %d bytes, too short for a snapshot", fileSize)
	}
	head := make([]byte, headerSize)
	if _, err := file.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("snap: read %s: %w", path, err)
	}
	if string(head[:8]) != fileMagic {
		return nil, corrupt("bad magic %q", head[:8])
	}
	version := binary.LittleEndian.Uint32(head[8:])
	if err := checkFormatVersion(version); err != nil {
		return nil, corrupt("%v", err)
	}
	membershipLength := int64(binary.LittleEndian.Uint32(head[12:]))
	index, term := binary.LittleEndian.Uint64(head[16:]), binary.LittleEndian.Uint64(head[24:])
	dataLength := binary.LittleEndian.Uint64(head[32:])
	rest := fileSize - headerSize - trailerSize
	if membershipLength > rest || dataLength != uint64(rest-membershipLength) {
		return nil, corrupt("lengths (membership %d, data %d) do not match the %d bytes present", membershipLength, dataLength, rest)
	}
	if index != metadata.Index || term != metadata.Term {
		return nil, corrupt("content is snapshot %d (term %d), want %d (term %d)", index, term, metadata.Index, metadata.Term)
	}
	membership := make([]byte, membershipLength)
	if _, err := file.ReadAt(membership, headerSize); err != nil {
		return nil, fmt.Errorf("snap: read %s: %w", path, err)
	}
	decoded, err := decodeMembership(version, membership)
	if err != nil {
		return nil, corrupt("%v", err)
	}
	checksum := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, membership)
	start := headerSize + membershipLength
	return &DataReader{metadata: raft.SnapshotMetadata{Index: index, Term: term, Membership: decoded}, file: file, path: path,
		start: start, offset: start, end: start + int64(dataLength), size: int64(dataLength), headSum: checksum, checksum: checksum}, nil
}

// Metadata is the snapshot's metadata as its file records it.
func (r *DataReader) Metadata() raft.SnapshotMetadata { return r.metadata }

// Size is the number of data bytes.
func (r *DataReader) Size() int64 { return r.size }

// Read implements io.Reader.
func (r *DataReader) Read(p []byte) (int, error) {
	if r.corrupted != nil {
		return 0, r.corrupted
	}
	if r.offset == r.end {
		if err := r.verify(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.end-r.offset)]
	n, err := r.file.ReadAt(p, r.offset)
	r.checksum = crc32.Update(r.checksum, castagnoli, p[:n])
	r.offset += int64(n)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(p)) {
		return n, fmt.Errorf("snap: read %s: %w", r.path, err)
	}
	return n, nil
}

// verify compares the checksum of everything read with the trailer.
func (r *DataReader) verify() error {
	if r.verified {
		return nil
	}
	trailer := make([]byte, trailerSize)
	if _, err := r.file.ReadAt(trailer, r.end); err != nil {
		return fmt.Errorf("snap: read %s: %w", r.path, err)
	}
	if got := binary.LittleEndian.Uint32(trailer); got != r.checksum {
		r.corrupted = &CorruptionError{File: r.path, Reason: fmt.Sprintf("checksum %08x, want %08x", got, r.checksum)}
		return r.corrupted
	}
	r.verified = true
	return nil
}

// Rewind starts reading the data again from its first byte, verifying it
// again, on the same open file: a snapshot removed meanwhile (the store
// keeps only the newest few) stays readable through it.
func (r *DataReader) Rewind() {
	r.offset, r.checksum, r.verified, r.corrupted = r.start, r.headSum, false, nil
}

// Close releases the file.
func (r *DataReader) Close() error { return r.file.Close() }

// LoadMetadata is Load without the data: it returns the metadata of the
// newest snapshot that passes verification, reading each file as a
// stream (a snapshot is as large as the state machine), with Load's rules
// for damaged files and ErrNoSnapshot.
func (s *Store) LoadMetadata() (raft.SnapshotMetadata, error) {
	s.mu.Lock()
	names, err := s.names()
	s.mu.Unlock()
	if err != nil {
		return raft.SnapshotMetadata{}, err
	}
	return newestVerified(names, func(name string) (raft.SnapshotMetadata, error) {
		index, term, _ := parseFileName(name)
		return s.verify(raft.SnapshotMetadata{Index: index, Term: term})
	})
}

// verify reads a snapshot file through and returns its metadata if its
// checksum matches.
func (s *Store) verify(metadata raft.SnapshotMetadata) (raft.SnapshotMetadata, error) {
	reader, err := s.OpenData(metadata)
	if err != nil {
		return raft.SnapshotMetadata{}, err
	}
	defer reader.Close()
	if _, err := io.Copy(io.Discard, reader); err != nil {
		return raft.SnapshotMetadata{}, err
	}
	return reader.Metadata(), nil
}

// verifyFile reads the snapshot file at path through and checks that it
// is metadata's snapshot and that its checksum matches.
func verifyFile(fileSystem vfs.FS, path string, metadata raft.SnapshotMetadata) error {
	file, err := fileSystem.Open(path)
	if err != nil {
		return fmt.Errorf("snap: open %s: %w", path, err)
	}
	defer file.Close()
	reader, err := newDataReader(file, path, metadata)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, reader)
	return err
}
