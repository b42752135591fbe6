package vfs

import (
	"errors"
	"io"
	"io/fs"
	"sync"
)

// memNode is the content of one in-memory file, shared by every handle and
// every name that refers to it.
type memNode struct {
	mu     sync.Mutex
	data   []byte // live content
	synced []byte // content as of the last successful Sync
	// pending lists the changes made since the last Sync, in order, so that
	// a crash can keep an arbitrary subset of them.
	pending []pendingChange
}

// pendingChange is one write (data at offset) or, when truncate is set, a
// change of size to offset.
type pendingChange struct {
	offset   int64
	data     []byte
	truncate bool
}

type memFile struct {
	fs         *MemFS
	node       *memNode
	name       string
	generation int
	writable   bool
	closed     bool
	closedMu   sync.Mutex
}

func (f *memFile) alive(operation Operation) error {
	f.closedMu.Lock()
	closed := f.closed
	f.closedMu.Unlock()
	if closed {
		return &fs.PathError{Op: operation.String(), Path: f.name, Err: fs.ErrClosed}
	}
	f.fs.mu.Lock()
	crashed := f.generation != f.fs.generation
	f.fs.mu.Unlock()
	if crashed {
		return &fs.PathError{Op: operation.String(), Path: f.name, Err: ErrCrashed}
	}
	return f.fs.check(operation, f.name)
}

func (f *memFile) ReadAt(buffer []byte, offset int64) (int, error) {
	if err := f.alive(OperationRead); err != nil {
		return 0, err
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if offset >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	count := copy(buffer, f.node.data[offset:])
	if count < len(buffer) {
		return count, io.EOF
	}
	return count, nil
}

func (f *memFile) WriteAt(buffer []byte, offset int64) (int, error) {
	if err := f.alive(OperationWrite); err != nil {
		return 0, err
	}
	if !f.writable || offset < 0 {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrPermission}
	}
	// The file system's lock (then the file's, as Crash takes them) is
	// held across the write so that no other write takes the room found.
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	growth, room := f.fs.roomLocked(f.node, offset+int64(len(buffer)))
	var err error
	if room < growth {
		// What fits is written: a short write, then ENOSPC.
		buffer = buffer[:max(int64(len(buffer))-(growth-room), 0)]
		err = f.fs.noSpaceLocked(OperationWrite, f.name)
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if len(buffer) > 0 {
		f.node.data = applyWrite(f.node.data, offset, buffer)
		f.node.pending = append(f.node.pending, pendingChange{offset: offset, data: append([]byte(nil), buffer...)})
	}
	return len(buffer), err
}

func (f *memFile) Truncate(size int64) error {
	if err := f.alive(OperationTruncate); err != nil {
		return err
	}
	if !f.writable || size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrPermission}
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if growth, room := f.fs.roomLocked(f.node, size); room < growth {
		return f.fs.noSpaceLocked(OperationTruncate, f.name)
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.data = applyTruncate(f.node.data, size)
	f.node.pending = append(f.node.pending, pendingChange{offset: size, truncate: true})
	return nil
}

func (f *memFile) Sync() error {
	if err := f.alive(OperationSync); err != nil {
		return err
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	for _, change := range f.node.pending {
		f.node.synced = change.apply(f.node.synced)
	}
	f.node.pending = nil
	return nil
}

func (f *memFile) Size() (int64, error) {
	if err := f.alive(OperationRead); err != nil {
		return 0, err
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	return int64(len(f.node.data)), nil
}

func (f *memFile) Close() error {
	f.closedMu.Lock()
	defer f.closedMu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}

func (c pendingChange) apply(data []byte) []byte {
	if c.truncate {
		return applyTruncate(data, c.offset)
	}
	return applyWrite(data, c.offset, c.data)
}

func applyWrite(data []byte, offset int64, buffer []byte) []byte {
	end := offset + int64(len(buffer))
	if end > int64(len(data)) {
		data = applyTruncate(data, end)
	}
	copy(data[offset:], buffer)
	return data
}

func applyTruncate(data []byte, size int64) []byte {
	if size <= int64(len(data)) {
		return data[:size:size]
	}
	grown := make([]byte, size)
	copy(grown, data)
	return grown
}

// ErrInjected is an error a fault hook can return to make an operation fail.
var ErrInjected = errors.New("vfs: injected fault")
