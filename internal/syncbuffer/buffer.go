// Package syncbuffer is a bytes.Buffer that goroutines may write at once,
// for tests that collect the log lines of many goroutines.
package syncbuffer

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer collects what is written to it. Safe for concurrent use; the
// zero value is ready.
type Buffer struct {
	mu     sync.Mutex
	buffer bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffer.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffer.String()
}

// Tail returns the last lines written (all if there are fewer).
func (b *Buffer) Tail(lines int) string {
	all := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
