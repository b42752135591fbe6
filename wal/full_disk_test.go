package wal

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// fullDisk is a fault hook that answers ENOSPC, while full, to one kind
// of operation on either the files being prepared as segments (spares) or
// the segments in use. A file handle keeps the name it was opened with
// (as an os.File does), so a segment in use is still written under its
// spare's name: the hook follows each spare from its creation to its
// rename.
type fullDisk struct {
	operation vfs.Operation
	spares    bool // refuse operations on spares, not on segments in use
	full      atomic.Bool
	refused   atomic.Int64

	mu        sync.Mutex
	preparing map[string]bool
}

func (d *fullDisk) hook(operation vfs.Operation, name string) error {
	d.mu.Lock()
	switch operation {
	case vfs.OperationCreate:
		d.preparing[name] = strings.HasSuffix(name, temporarySuffix)
	case vfs.OperationRename:
		delete(d.preparing, name)
	}
	spare := d.preparing[name]
	d.mu.Unlock()
	if d.full.Load() && operation == d.operation && spare == d.spares {
		d.refused.Add(1)
		return fmt.Errorf("injected: %w", syscall.ENOSPC)
	}
	return nil
}

// fillDisk installs a fullDisk on fileSystem; it is not yet full.
func fillDisk(fileSystem *vfs.MemFS, operation vfs.Operation, spares bool) *fullDisk {
	disk := &fullDisk{operation: operation, spares: spares, preparing: map[string]bool{}}
	fileSystem.SetFault(disk.hook)
	return disk
}

// directoryContent maps each file of the log's directory to its content.
func directoryContent(t *testing.T, fileSystem vfs.FS) map[string][]byte {
	t.Helper()
	names, err := fileSystem.List(testDir)
	if err != nil {
		t.Fatal(err)
	}
	content := map[string][]byte{}
	for _, name := range names {
		content[name] = readFile(t, fileSystem, segmentPath(name))
	}
	return content
}

// TestFullDiskWhilePreparingASegmentIsRetryable fills the disk while the
// log prepares its next segment (creating the file, filling it with
// zeros, or syncing them fails with ENOSPC). The Save that needs the
// segment fails with ErrNoSpace wrapping ENOSPC, not ErrLogFailed; the
// directory holds exactly the files and bytes it held before that Save
// (the partial spare is removed); reads see the log as before; trying
// again while the disk is full fails the same way and does not fail the
// log. Once space returns, the same Save succeeds, later ones too, and the
// log reads back exactly, before and after reopening.
func TestFullDiskWhilePreparingASegmentIsRetryable(t *testing.T) {
	for _, operation := range []vfs.Operation{vfs.OperationCreate, vfs.OperationWrite, vfs.OperationSync} {
		t.Run(operation.String(), func(t *testing.T) {
			fileSystem := vfs.NewMemFS()
			options := smallSegments
			options.inlinePreparation = true // one order of file operations
			disk := fillDisk(fileSystem, operation, true)
			log := openLog(t, fileSystem, options)
			disk.full.Store(true)
			hardState := raft.HardState{Term: 1, Vote: 1}
			var failed error
			var before map[string][]byte
			index := uint64(1)
			for ; index < 1000; index++ {
				before = directoryContent(t, fileSystem)
				hardState.Commit = index - 1
				if failed = log.Save(hardState, makeEntries(index, index, 1)); failed != nil {
					break
				}
			}
			if !errors.Is(failed, ErrNoSpace) || !errors.Is(failed, syscall.ENOSPC) || errors.Is(failed, ErrLogFailed) {
				t.Fatalf("Save needing a segment on a full disk: %v, want ErrNoSpace wrapping ENOSPC, not ErrLogFailed", failed)
			}
			if disk.refused.Load() == 0 {
				t.Fatal("no preparation was refused")
			}
			acknowledged := index - 1
			for attempt := range 3 {
				after := directoryContent(t, fileSystem)
				if !maps.EqualFunc(before, after, bytes.Equal) {
					t.Fatalf("attempt %d: the directory changed: %v before, %v after", attempt, keys(before), keys(after))
				}
				for name := range after {
					if strings.HasSuffix(name, temporarySuffix) {
						t.Fatalf("attempt %d: the partial segment %s was left on the full disk", attempt, name)
					}
				}
				if got := log.LastIndex(); got != acknowledged {
					t.Fatalf("attempt %d: LastIndex %d, want the %d acknowledged", attempt, got, acknowledged)
				}
				if got := log.HardState(); got.Commit != hardState.Commit-1 {
					t.Fatalf("attempt %d: the failed Save's hard state %+v is visible", attempt, got)
				}
				err := log.Save(hardState, makeEntries(index, index, 1))
				if !errors.Is(err, ErrNoSpace) {
					t.Fatalf("attempt %d: Save again on the full disk: %v, want ErrNoSpace", attempt, err)
				}
			}
			disk.full.Store(false)
			mustSave(t, log, hardState, makeEntries(index, index, 1))
			for next := index + 1; next <= index+20; next++ {
				hardState.Commit = next - 1
				mustSave(t, log, hardState, makeEntries(next, next, 1))
			}
			want := makeEntries(1, index+20, 1)
			if got := allEntries(t, log); !sameEntries(got, want) {
				t.Fatalf("after space returned: %d entries, want %d", len(got), len(want))
			}
			if err := log.Close(); err != nil {
				t.Fatal(err)
			}
			fileSystem.Crash(nil)
			reopened := openLog(t, fileSystem, options)
			if got := allEntries(t, reopened); !sameEntries(got, want) {
				t.Fatalf("after reopening: %d entries, want %d", len(got), len(want))
			}
			if got := reopened.HardState(); got.Term != 1 || got.Vote != 1 {
				t.Fatalf("hard state after reopening %+v", got)
			}
		})
	}
}

func keys(content map[string][]byte) []string {
	var names []string
	for name := range content {
		names = append(names, name)
	}
	return names
}

// TestFailedBackgroundPreparationIsTriedAgain fills the disk only while
// the next segment is prepared ahead of time (once the current one is
// half full); space returns before the log rolls over. The failure is not
// remembered: the segment is prepared again when it is needed, and no
// Save fails.
func TestFailedBackgroundPreparationIsTriedAgain(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	options := smallSegments
	options.inlinePreparation = true // the preparation runs inside the Save that starts it
	disk := fillDisk(fileSystem, vfs.OperationWrite, true)
	log := openLog(t, fileSystem, options)
	disk.full.Store(true)
	index := uint64(1)
	for ; disk.refused.Load() == 0; index++ {
		if index == 1000 {
			t.Fatal("no segment was prepared ahead of time")
		}
		mustSave(t, log, raft.HardState{Term: 1}, makeEntries(index, index, 1))
	}
	disk.full.Store(false)
	segments := len(log.Segments())
	for ; len(log.Segments()) == segments; index++ {
		if index == 1000 {
			t.Fatal("the log never rolled over")
		}
		mustSave(t, log, raft.HardState{Term: 1}, makeEntries(index, index, 1))
	}
	if got := allEntries(t, log); !sameEntries(got, makeEntries(1, index-1, 1)) {
		t.Fatalf("%d entries, want %d", len(got), index-1)
	}
}

// TestFullDiskWhileWritingRecordsFailsTheLog fills the disk under the
// records themselves: a segment refuses a write with ENOSPC. That should
// not happen in a zero-filled segment, and if it does, what reached the
// disk is uncertain: the Save fails with ErrLogFailed wrapping ENOSPC (the
// cause is named), later writes fail too even once space returns (the log
// stops rather than guess what is durable), nothing unacknowledged is
// visible, and a reopened log holds every acknowledged entry and takes
// writes.
func TestFullDiskWhileWritingRecordsFailsTheLog(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	disk := fillDisk(fileSystem, vfs.OperationWrite, false)
	log := openLog(t, fileSystem, smallSegments)
	mustSave(t, log, raft.HardState{Term: 1}, makeEntries(1, 1, 1))
	disk.full.Store(true)
	err := log.Save(raft.HardState{Term: 1}, makeEntries(2, 2, 1))
	if !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrNoSpace) {
		t.Fatalf("Save on a full disk: %v, want ErrLogFailed wrapping ENOSPC, not ErrNoSpace", err)
	}
	disk.full.Store(false)
	if err := log.Save(raft.HardState{Term: 1}, makeEntries(2, 2, 1)); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("Save once space returned: %v, want ErrLogFailed until reopened", err)
	}
	if got := log.LastIndex(); got != 1 {
		t.Fatalf("LastIndex %d, want the 1 acknowledged", got)
	}
	if err := log.Close(); err != nil && !errors.Is(err, ErrLogFailed) {
		t.Fatal(err)
	}
	fileSystem.Crash(nil)
	reopened := openLog(t, fileSystem, smallSegments)
	if got := allEntries(t, reopened); !sameEntries(got, makeEntries(1, 1, 1)) {
		t.Fatalf("after reopening: %d entries, want the 1 acknowledged", len(got))
	}
	mustSave(t, reopened, raft.HardState{Term: 1}, makeEntries(2, 2, 1))
}

// reportingFS is a MemFS that reports the free space it is told, as the
// OS file system reports statfs's.
type reportingFS struct {
	*vfs.MemFS
	free atomic.Uint64
}

func (f *reportingFS) FreeSpace(string) (uint64, error) { return f.free.Load(), nil }

// TestFullDiskIsAskedBeforeTryingAgain: once a preparation found the disk
// full, a file system that reports its free space is asked before the next
// try, and no zeros are written while it has less than a segment's size;
// once it reports enough, the segment is prepared again (and a disk still
// full then is found so again).
func TestFullDiskIsAskedBeforeTryingAgain(t *testing.T) {
	fileSystem := &reportingFS{MemFS: vfs.NewMemFS()}
	fileSystem.free.Store(1 << 30) // what statfs says need not hold a moment later
	options := smallSegments
	options.inlinePreparation = true
	disk := fillDisk(fileSystem.MemFS, vfs.OperationWrite, true)
	log := openLog(t, fileSystem, options)
	disk.full.Store(true)
	index := uint64(1)
	for ; log.Save(raft.HardState{Term: 1}, makeEntries(index, index, 1)) == nil; index++ {
		if index == 1000 {
			t.Fatal("the log never needed a new segment")
		}
	}
	fileSystem.free.Store(uint64(options.SegmentSize) - 1)
	tries := disk.refused.Load()
	for range 5 {
		err := log.Save(raft.HardState{Term: 1}, makeEntries(index, index, 1))
		if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "bytes free") {
			t.Fatalf("Save with less than a segment free: %v, want ErrNoSpace saying how much is free", err)
		}
	}
	if disk.refused.Load() != tries {
		t.Fatalf("%d more zero-fills tried with less than a segment free, want none", disk.refused.Load()-tries)
	}
	fileSystem.free.Store(1 << 30)
	if err := log.Save(raft.HardState{Term: 1}, makeEntries(index, index, 1)); !errors.Is(err, ErrNoSpace) || disk.refused.Load() == tries {
		t.Fatalf("Save with room reported on a disk still full: %v after %d tries, want ErrNoSpace from a new try", err, disk.refused.Load()-tries)
	}
	disk.full.Store(false)
	mustSave(t, log, raft.HardState{Term: 1}, makeEntries(index, index, 1))
	if got := allEntries(t, log); !sameEntries(got, makeEntries(1, index, 1)) {
		t.Fatalf("%d entries, want %d", len(got), index)
	}
}
