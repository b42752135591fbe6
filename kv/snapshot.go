package kv

import (
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// Snapshot flushes Pebble, so that its files hold every applied entry
// (the runtime compacts the Raft log right after), and returns an image of
// the whole store as of now (see image.go for the format). The image is
// produced lazily from a Pebble snapshot, so Apply may continue while it
// is read; the caller must Close it. Called from the node's applier
// goroutine, between two Applies: while the store's disk is full, or once
// the flush finds it so, it fails at once with an error wrapping
// ErrDiskFull rather than wait for space (which would hold back every
// apply, and every answer, behind it), and the runtime tries again later.
func (s *Store) Snapshot() (io.ReadCloser, error) {
	database, err := s.acquire()
	if err != nil {
		return nil, err
	}
	if err := database.flushOrFull(); err != nil {
		database.release()
		return nil, fmt.Errorf("kv: snapshot: flush: %w", err)
	}
	return newImageReader(database)
}

// Backup returns an image of the whole store as of now, in the format of
// Snapshot, for Maintenance.Snapshot and lockstep snapshot save: Restore
// (or lockstep snapshot restore) reads it. Unlike Snapshot it does not
// flush, since no log is compacted after it. The image is read from a
// Pebble snapshot, consistent at one applied index, while Apply goes on;
// the caller must Close it. Callable from any goroutine.
func (s *Store) Backup() (io.ReadCloser, error) {
	database, err := s.acquire()
	if err != nil {
		return nil, err
	}
	return newImageReader(database)
}

// newImageReader starts an image of database's current state; it owns the
// reference to database that the caller acquired.
func newImageReader(database *database) (io.ReadCloser, error) {
	snapshot := database.db.NewSnapshot()
	iterator, err := snapshot.NewIter(nil)
	if err != nil {
		snapshot.Close()
		database.release()
		return nil, fmt.Errorf("kv: snapshot: %w", err)
	}
	reader := &imageReader{database: database, snapshot: snapshot, iterator: iterator, encoder: newImageEncoder()}
	reader.valid = iterator.First()
	return reader, nil
}

// imageReader streams an image of a Pebble snapshot.
type imageReader struct {
	database *database
	snapshot *pebble.Snapshot
	iterator *pebble.Iterator
	encoder  *imageEncoder
	valid    bool
	finished bool
	closed   bool
}

// imageChunk is how many bytes of records are encoded at a time.
const imageChunk = 256 << 10

// Read implements io.Reader.
func (r *imageReader) Read(destination []byte) (int, error) {
	if r.closed {
		return 0, errors.New("kv: read of a closed snapshot image")
	}
	for r.encoder.buffer.Len() == 0 {
		if r.finished {
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	return r.encoder.buffer.Read(destination)
}

// fill encodes the next records, and the end of the image after the last.
func (r *imageReader) fill() error {
	for r.valid && r.encoder.buffer.Len() < imageChunk {
		value, err := r.iterator.ValueAndErr()
		if err != nil {
			return fmt.Errorf("kv: snapshot: read: %w", err)
		}
		r.encoder.record(r.iterator.Key(), value)
		r.valid = r.iterator.Next()
	}
	if r.valid {
		return nil
	}
	if err := r.iterator.Error(); err != nil {
		return fmt.Errorf("kv: snapshot: read: %w", err)
	}
	r.encoder.finish()
	r.finished = true
	return nil
}

// Close releases the Pebble snapshot.
func (r *imageReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := errors.Join(r.iterator.Close(), r.snapshot.Close())
	r.database.release()
	return err
}
