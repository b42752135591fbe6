//go:build !linux

package vfs

import "os"

// syncData flushes a file's data; outside Linux it is a full fsync.
func syncData(file *os.File) error { return file.Sync() }
