package kv

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

// A backup file (Maintenance.Snapshot's stream, lockstep snapshot save's
// file) is laid out like etcd's, because etcdctl snapshot save refuses a
// stream whose length is not a multiple of 512 plus a SHA-256:
//
//	image     a store image (image.go), with its own CRC-32C
//	padding   zero bytes, so that image, padding and length end on a
//	          multiple of 512
//	length    the image's length, 8 bytes big-endian
//	digest    SHA-256 of everything before it
//
// The content is lockstep's own: etcdutl cannot restore it, and lockstep
// cannot restore an etcd backup.
const (
	backupAlignment = 512
	backupTrailer   = 8 + sha256.Size
)

// ErrCorruptBackup reports a backup file that is truncated or damaged.
var ErrCorruptBackup = errors.New("kv: corrupt backup")

// NewBackupStream turns an image (from Backup) into a backup file's bytes,
// produced as they are read; closing it closes the image.
func NewBackupStream(image io.ReadCloser) io.ReadCloser {
	return &backupStream{image: image, digest: sha256.New()}
}

type backupStream struct {
	image   io.ReadCloser
	digest  hash.Hash
	length  uint64
	trailer []byte // set once the image is exhausted
	err     error
}

// Read implements io.Reader.
func (b *backupStream) Read(destination []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.trailer == nil {
		n, err := b.image.Read(destination)
		b.length += uint64(n)
		b.digest.Write(destination[:n])
		if err == io.EOF {
			b.finish()
			err = nil
		}
		if err != nil {
			b.err = err
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	if len(b.trailer) == 0 {
		b.err = io.EOF
		return 0, io.EOF
	}
	n := copy(destination, b.trailer)
	b.trailer = b.trailer[n:]
	return n, nil
}

// finish builds the padding, length and digest that follow the image.
func (b *backupStream) finish() {
	padding := (backupAlignment - (b.length+8)%backupAlignment) % backupAlignment
	tail := make([]byte, padding, padding+backupTrailer)
	tail = binary.BigEndian.AppendUint64(tail, b.length)
	b.digest.Write(tail)
	b.trailer = b.digest.Sum(tail)
}

// Close closes the image.
func (b *backupStream) Close() error { return b.image.Close() }

// OpenBackup checks a backup file of size bytes whole (its layout and its
// SHA-256) and returns a reader of the image inside, for Restore or
// InspectImage, which check the image's own checksum in turn. The digest
// identifies the backup: RestoreBackup mixes it into the new cluster's ID,
// so that members restored from different backups refuse each other.
func OpenBackup(file io.ReaderAt, size int64) (image *io.SectionReader, digest []byte, err error) {
	if size < backupTrailer || (size-sha256.Size)%backupAlignment != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes is not a multiple of %d plus a %d-byte digest (truncated, or not a lockstep backup)", ErrCorruptBackup, size, backupAlignment, sha256.Size)
	}
	hash := sha256.New()
	if _, err := io.Copy(hash, io.NewSectionReader(file, 0, size-sha256.Size)); err != nil {
		return nil, nil, fmt.Errorf("kv: read backup: %w", err)
	}
	trailer := make([]byte, backupTrailer)
	if _, err := file.ReadAt(trailer, size-backupTrailer); err != nil {
		return nil, nil, fmt.Errorf("kv: read backup: %w", err)
	}
	digest = hash.Sum(nil)
	if !bytes.Equal(digest, trailer[8:]) {
		return nil, nil, fmt.Errorf("%w: SHA-256 mismatch", ErrCorruptBackup)
	}
	length := binary.BigEndian.Uint64(trailer[:8])
	if length > uint64(size-backupTrailer) || uint64(size-backupTrailer)-length >= backupAlignment {
		return nil, nil, fmt.Errorf("%w: image length %d in a file of %d bytes", ErrCorruptBackup, length, size)
	}
	return io.NewSectionReader(file, 0, int64(length)), digest, nil
}
