package kv

import (
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Bounds of the delay before Pebble creates a file while the disk is full.
const (
	minimumRetryDelay = 10 * time.Millisecond
	maximumRetryDelay = time.Second
)

// backoffFS delays every file creation while the store's disk is full.
// Pebble retries a failed flush at once, and each try creates a table file,
// writes until the disk refuses, and removes it: without a delay a full
// disk costs a core. The delay doubles with each failure, from 10 ms to
// one second, and ends with the first successful flush (diskHealth). A
// flush creates its file without holding Pebble's lock, so the delay
// holds up no reader or writer.
type backoffFS struct {
	vfs.FS
	health *diskHealth
	sleep  func(time.Duration)
}

// Create waits the current retry delay, then creates the file.
func (f backoffFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if delay := f.health.retryDelay(); delay > 0 {
		f.sleep(delay)
	}
	return f.FS.Create(name, category)
}
