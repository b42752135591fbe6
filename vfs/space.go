package vfs

import (
	"errors"
	"syscall"
)

// IsNoSpace reports whether err says that a disk has no space left
// (ENOSPC), however deeply it is wrapped. It is the one test of a full disk
// that the log (package wal) and the key-value store share: both recover
// from a full disk once space returns, where other write errors are fatal.
func IsNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }

// SpaceReporter is implemented by file systems that can say how much space
// is left for a directory's files.
type SpaceReporter interface {
	// FreeSpace returns the bytes available to an unprivileged writer on
	// the file system that holds dir.
	FreeSpace(dir string) (uint64, error)
}

// ErrNoSpaceReport is returned by FreeSpace for a file system that cannot
// say how much space is left.
var ErrNoSpaceReport = errors.New("vfs: the file system does not report free space")

// FreeSpace returns the bytes available for dir's files, if fileSystem is a
// SpaceReporter, and ErrNoSpaceReport otherwise. Meant for messages to an
// operator (it is a system call: cheap, but not for every write).
func FreeSpace(fileSystem FS, dir string) (uint64, error) {
	if reporter, ok := fileSystem.(SpaceReporter); ok {
		return reporter.FreeSpace(dir)
	}
	return 0, ErrNoSpaceReport
}
