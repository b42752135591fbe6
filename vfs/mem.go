package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
)

// ErrCrashed is returned by every operation on a File opened before the
// MemFS crashed.
var ErrCrashed = errors.New("vfs: file belongs to a crashed file system")

// MemFS is an in-memory FS that models crashes. It keeps two views of the
// world: the live one that operations see, and the durable one that a crash
// returns to. File data becomes durable with File.Sync; the existence of a
// name (create, rename, remove) becomes durable with SyncDir of its
// directory. Directories themselves are always durable.
//
// Crash discards everything that was not durable (optionally keeping a
// random subset of unsynced sectors, as a real disk may), SetFault lets a
// test fail chosen operations, and SetCapacity makes the disk fill up. The zero value is not usable; call NewMemFS.
type MemFS struct {
	mu          sync.Mutex
	live        map[string]*memNode // path -> file, as operations see it
	durable     map[string]*memNode // path -> file, as a crash would leave it
	directories map[string]bool
	generation  int // incremented by Crash; older handles are dead
	fault       func(Operation, string) error
	capacity    int64 // bytes the live files may hold together; 0: no limit (mem_space.go)
	refusals    int64 // writes and truncations the capacity refused
}

// NewMemFS returns an empty MemFS with the root directory "/".
func NewMemFS() *MemFS {
	return &MemFS{
		live:        map[string]*memNode{},
		durable:     map[string]*memNode{},
		directories: map[string]bool{"/": true, ".": true},
	}
}

// Operation names a kind of MemFS operation, for fault injection.
type Operation int

const (
	OperationCreate Operation = iota
	OperationOpen
	OperationRead
	OperationWrite
	OperationSync
	OperationTruncate
	OperationRename
	OperationRemove
	OperationList
	OperationSyncDir
)

var operationNames = [...]string{"create", "open", "read", "write", "sync", "truncate", "rename", "remove", "list", "syncdir"}

func (o Operation) String() string {
	if o >= 0 && int(o) < len(operationNames) {
		return operationNames[o]
	}
	return fmt.Sprintf("Operation(%d)", int(o))
}

// SetFault installs a hook called before every operation with the
// operation and the path it concerns. If the hook returns an error, the
// operation fails with it and has no effect. A nil hook removes injection.
// The hook is called with no MemFS lock held and must be safe for
// concurrent use.
func (m *MemFS) SetFault(hook func(operation Operation, name string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fault = hook
}

func (m *MemFS) check(operation Operation, name string) error {
	m.mu.Lock()
	hook := m.fault
	m.mu.Unlock()
	if hook == nil {
		return nil
	}
	if err := hook(operation, name); err != nil {
		return &fs.PathError{Op: operation.String(), Path: name, Err: err}
	}
	return nil
}

func clean(name string) string { return path.Clean(strings.ReplaceAll(name, "\\", "/")) }

func (m *MemFS) directoryExists(name string) bool { return m.directories[path.Dir(name)] }

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	name = clean(name)
	if err := m.check(OperationCreate, name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.directoryExists(name) {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrNotExist}
	}
	node := &memNode{}
	m.live[name] = node
	return &memFile{fs: m, node: node, name: name, generation: m.generation, writable: true}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) { return m.open(name, false) }

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) { return m.open(name, true) }

func (m *MemFS) open(name string, writable bool) (File, error) {
	name = clean(name)
	if err := m.check(OperationOpen, name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	node, ok := m.live[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{fs: m, node: node, name: name, generation: m.generation, writable: writable}, nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldName, newName string) error {
	oldName, newName = clean(oldName), clean(newName)
	if err := m.check(OperationRename, oldName); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	node, ok := m.live[oldName]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldName, Err: fs.ErrNotExist}
	}
	if !m.directoryExists(newName) {
		return &fs.PathError{Op: "rename", Path: newName, Err: fs.ErrNotExist}
	}
	delete(m.live, oldName)
	m.live[newName] = node
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	name = clean(name)
	if err := m.check(OperationRemove, name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.live, name)
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	dir = clean(dir)
	if err := m.check(OperationList, dir); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.directories[dir] {
		return nil, &fs.PathError{Op: "list", Path: dir, Err: fs.ErrNotExist}
	}
	var names []string
	for name := range m.live {
		if path.Dir(name) == dir {
			names = append(names, path.Base(name))
		}
	}
	for name := range m.directories {
		if name != dir && path.Dir(name) == dir {
			names = append(names, path.Base(name))
		}
	}
	slices.Sort(names)
	return names, nil
}

// MkdirAll implements FS. Directories are durable at once.
func (m *MemFS) MkdirAll(dir string) error {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for ; !m.directories[dir]; dir = path.Dir(dir) {
		m.directories[dir] = true
	}
	return nil
}

// SyncDir implements FS: the durable view of dir's names becomes the live
// one.
func (m *MemFS) SyncDir(dir string) error {
	dir = clean(dir)
	if err := m.check(OperationSyncDir, dir); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.durable {
		if path.Dir(name) == dir {
			delete(m.durable, name)
		}
	}
	for name, node := range m.live {
		if path.Dir(name) == dir {
			m.durable[name] = node
		}
	}
	return nil
}
