package stack

import (
	"io/fs"
	"math/rand/v2"
	"sync"

	"github.com/lockstepdb/lockstep/vfs"
)

// poweredDisk is one incarnation's view of its member's disk. Once the disk
// crashes (the member's power fails), every operation through the view
// fails with vfs.ErrCrashed: a process without power writes nothing more.
// vfs.MemFS.Crash alone kills only the handles opened before it, and the
// same MemFS serves the next incarnation, so without the view an
// incarnation's goroutines still running between the crash and their
// node's Stop (a snapshot being saved, the durable machine persisting)
// could create, rename and sync names on the disk the next incarnation
// starts from: a snapshot whose state never became durable, found by the
// next start as a lost state (ErrImageNotKept). A crash takes the view's
// lock for writing, so an operation either completes before the crash (and
// the crash model keeps what of it was durable) or fails after it.
type poweredDisk struct {
	disk *vfs.MemFS
	mu   sync.RWMutex
	off  bool
}

// crash crashes the disk (see vfs.MemFS.Crash) and turns the view off.
func (p *poweredDisk) crash(random *rand.Rand) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = true
	p.disk.Crash(random)
}

// powered runs an operation unless the power failed.
func (p *poweredDisk) powered(operation, name string, do func() error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.off {
		return &fs.PathError{Op: operation, Path: name, Err: vfs.ErrCrashed}
	}
	return do()
}

func (p *poweredDisk) Create(name string) (file vfs.File, err error) {
	err = p.powered("create", name, func() error { file, err = p.disk.Create(name); return err })
	return file, err
}

func (p *poweredDisk) Open(name string) (file vfs.File, err error) {
	err = p.powered("open", name, func() error { file, err = p.disk.Open(name); return err })
	return file, err
}

func (p *poweredDisk) OpenReadWrite(name string) (file vfs.File, err error) {
	err = p.powered("open", name, func() error { file, err = p.disk.OpenReadWrite(name); return err })
	return file, err
}

func (p *poweredDisk) Rename(oldName, newName string) error {
	return p.powered("rename", oldName, func() error { return p.disk.Rename(oldName, newName) })
}

func (p *poweredDisk) Remove(name string) error {
	return p.powered("remove", name, func() error { return p.disk.Remove(name) })
}

func (p *poweredDisk) List(dir string) (names []string, err error) {
	err = p.powered("list", dir, func() error { names, err = p.disk.List(dir); return err })
	return names, err
}

func (p *poweredDisk) MkdirAll(dir string) error {
	return p.powered("mkdir", dir, func() error { return p.disk.MkdirAll(dir) })
}

func (p *poweredDisk) SyncDir(dir string) error {
	return p.powered("syncdir", dir, func() error { return p.disk.SyncDir(dir) })
}

// detach turns the view off without a crash: the disk keeps what was
// written through it, synced or not (a process gone, the power kept).
func (p *poweredDisk) detach() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = true
}

// failed says whether the view is off: the power failed under it, or
// (detach) its process is gone. A member's current view is never detached.
func (p *poweredDisk) failed() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.off
}

var _ vfs.FS = (*poweredDisk)(nil)
