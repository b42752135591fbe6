package vfs

import (
	"io/fs"
	"syscall"
)

// SetCapacity limits the bytes the MemFS's files may hold together, as a
// disk of that size would; 0 removes the limit. A write or truncation that
// would grow the files beyond it fails with ENOSPC (IsNoSpace): a write
// keeps the part that fits, as a short write followed by ENOSPC does on a
// real disk, and a truncation changes nothing. Writes within a file's
// current size (into preallocated space) always succeed, and shrinking
// frees space at once. Setting a capacity below what the files hold
// already only stops them from growing. Safe for concurrent use.
func (m *MemFS) SetCapacity(bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.capacity = max(bytes, 0)
}

// Used returns the bytes the live files hold together (a file removed but
// still open counts no more, as if its blocks were freed at once).
func (m *MemFS) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.usedLocked()
}

// FreeSpace implements SpaceReporter: the capacity less what the files
// hold, or ErrNoSpaceReport when no capacity is set (the space is then
// only the machine's memory, which the MemFS cannot say).
func (m *MemFS) FreeSpace(string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.capacity == 0 {
		return 0, ErrNoSpaceReport
	}
	return uint64(max(m.capacity-m.usedLocked(), 0)), nil
}

// usedLocked sums the sizes of the distinct live files; m.mu is held and
// no file's lock is.
func (m *MemFS) usedLocked() int64 {
	seen := make(map[*memNode]bool, len(m.live))
	var used int64
	for _, node := range m.live {
		if seen[node] {
			continue
		}
		seen[node] = true
		node.mu.Lock()
		used += int64(len(node.data))
		node.mu.Unlock()
	}
	return used
}

// roomLocked returns how many bytes of a write to node that would end at
// end fit on the disk, counted from the node's current end (a write that
// does not grow the file fits whole: the result is then at least the
// growth asked for). m.mu is held and node's lock is not.
func (m *MemFS) roomLocked(node *memNode, end int64) (growth, room int64) {
	node.mu.Lock()
	growth = max(end-int64(len(node.data)), 0)
	node.mu.Unlock()
	if m.capacity == 0 || growth == 0 {
		return growth, growth
	}
	return growth, min(growth, max(m.capacity-m.usedLocked(), 0))
}

// NoSpaceRefusals returns how many writes and truncations the capacity
// has refused (in whole or in part) so far: a simulator's evidence that a
// full disk was met.
func (m *MemFS) NoSpaceRefusals() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refusals
}

// noSpaceLocked counts a refusal and returns its error; m.mu is held.
func (m *MemFS) noSpaceLocked(operation Operation, name string) error {
	m.refusals++
	return &fs.PathError{Op: operation.String(), Path: name, Err: syscall.ENOSPC}
}
