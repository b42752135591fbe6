// Package vfs is the small file-system interface that lockstep's durable
// storage (wal, snap) is written against. It has two implementations: OS,
// the real file system, and MemFS, an in-memory file system that models what
// a crash does to data that was not made durable, and that can inject errors.
//
// The interface exposes exactly the durability points the storage code relies
// on: File.Sync makes a file's data durable, FS.SyncDir makes the creation,
// renaming and removal of names in a directory durable. Nothing else is
// promised to survive a crash.
package vfs

import "io"

// File is an open file. Reads and writes take explicit offsets so that a
// file can be shared between a writer and concurrent readers without a
// shared cursor. Implementations are safe for concurrent use.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes the file's data (and the metadata needed to read it back,
	// such as its size) durable. On Linux the OS implementation uses
	// fdatasync. If Sync returns an error, the caller must assume that any
	// data written since the last successful Sync may be lost, even if a
	// later Sync succeeds.
	Sync() error
	// Truncate changes the file's size; it is durable after the next Sync.
	Truncate(size int64) error
	// Size returns the file's current size in bytes.
	Size() (int64, error)
	// Close releases the file. It does not make anything durable.
	Close() error
}

// FS is a file system. Names are paths; the directory part must exist.
// Implementations are safe for concurrent use.
type FS interface {
	// Create creates the named file, truncating it if it exists, and opens
	// it for reading and writing. The new name is durable after SyncDir.
	Create(name string) (File, error)
	// Open opens an existing file for reading only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)
	// Rename atomically replaces newName with oldName. Durable after SyncDir
	// of the directory.
	Rename(oldName, newName string) error
	// Remove deletes the named file. Durable after SyncDir.
	Remove(name string) error
	// List returns the names (not paths) of the entries in dir, sorted.
	List(dir string) ([]string, error)
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string) error
	// SyncDir makes the creations, renames and removals of names in dir
	// durable.
	SyncDir(dir string) error
}
