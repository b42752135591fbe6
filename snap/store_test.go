package snap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

const testDir = "/snap"

func makeSnapshot(index uint64) raft.Snapshot {
	return raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: index, Term: index / 10, Membership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}, Learners: []raft.NodeID{4}}},
		Data:     fmt.Appendf(nil, "state at %d", index),
	}
}

func openStore(t *testing.T, fileSystem vfs.FS, retain int) *Store {
	t.Helper()
	store, err := Open(fileSystem, testDir, Options{Retain: retain})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func sameSnapshot(a, b raft.Snapshot) bool {
	return a.Metadata.Index == b.Metadata.Index && a.Metadata.Term == b.Metadata.Term &&
		fmt.Sprint(a.Metadata.Membership) == fmt.Sprint(b.Metadata.Membership) && bytes.Equal(a.Data, b.Data)
}

func TestSaveLoadAndRetain(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 2)
	if _, err := store.Load(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Load of an empty store = %v, want ErrNoSnapshot", err)
	}
	for _, index := range []uint64{10, 20, 30} {
		if err := store.Save(makeSnapshot(index)); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := store.Names()
	if len(names) != 2 || names[0] != fileName(20, 2) || names[1] != fileName(30, 3) {
		t.Fatalf("kept %v, want the two newest", names)
	}
	// Everything Save returned is durable: crash and reload.
	fileSystem.Crash(nil)
	reopened := openStore(t, fileSystem, 2)
	got, err := reopened.Load()
	if err != nil || !sameSnapshot(got, makeSnapshot(30)) {
		t.Fatalf("Load after crash = %+v, %v", got, err)
	}
	data, err := reopened.Data(makeSnapshot(20).Metadata)
	if err != nil || string(data) != "state at 20" {
		t.Fatalf("Data(20) = %q, %v", data, err)
	}
}

// TestEveryFlippedByteIsDetected flips each byte of a snapshot file: the
// load must fail with a CorruptionError, and Load falls back to the older
// snapshot instead of returning wrong data.
func TestEveryFlippedByteIsDetected(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 3)
	if err := store.Save(makeSnapshot(10)); err != nil {
		t.Fatal(err)
	}
	newest := makeSnapshot(20)
	if err := store.Save(newest); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(testDir, fileName(20, 2))
	content := encode(newest)
	for offset := range content {
		damaged := bytes.Clone(content)
		damaged[offset] ^= 0x10
		file, err := fileSystem.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		file.WriteAt(damaged, 0)
		file.Close()
		var corruption *CorruptionError
		if _, err := store.Data(newest.Metadata); !errors.As(err, &corruption) {
			t.Fatalf("flip at %d: Data = %v, want a CorruptionError", offset, err)
		}
		got, err := store.Load()
		if err != nil || !sameSnapshot(got, makeSnapshot(10)) {
			t.Fatalf("flip at %d: Load = %+v, %v; want the older snapshot", offset, got.Metadata, err)
		}
	}
}

// TestCrashDuringSaveKeepsPreviousSnapshot crashes at every file-system
// operation of a save; the previous snapshot must always load, and the
// new one loads only if it loads whole.
func TestCrashDuringSaveKeepsPreviousSnapshot(t *testing.T) {
	for crashAt := 1; ; crashAt++ {
		fileSystem := vfs.NewMemFS()
		store := openStore(t, fileSystem, 3)
		if err := store.Save(makeSnapshot(10)); err != nil {
			t.Fatal(err)
		}
		operations := 0
		fileSystem.SetFault(func(vfs.Operation, string) error {
			operations++
			if operations >= crashAt {
				return errors.New("power lost")
			}
			return nil
		})
		saveErr := store.Save(makeSnapshot(20))
		fileSystem.SetFault(nil)
		fileSystem.Crash(nil)
		reopened := openStore(t, fileSystem, 3)
		got, err := reopened.Load()
		if err != nil {
			t.Fatalf("crash at operation %d: Load = %v", crashAt, err)
		}
		if saveErr == nil && !sameSnapshot(got, makeSnapshot(20)) {
			t.Fatalf("crash at operation %d: Save succeeded but Load returned %d", crashAt, got.Metadata.Index)
		}
		if !sameSnapshot(got, makeSnapshot(20)) && !sameSnapshot(got, makeSnapshot(10)) {
			t.Fatalf("crash at operation %d: Load returned a mixture", crashAt)
		}
		if names, _ := fileSystem.List(testDir); len(names) > 2 {
			t.Fatalf("crash at operation %d: leftover files %v", crashAt, names)
		}
		if saveErr == nil {
			return // crashAt is past the last operation of Save
		}
	}
}

func TestDecodeNeverPanics(t *testing.T) {
	content := encode(makeSnapshot(5))
	for length := range len(content) {
		if _, err := decode(content[:length]); err == nil {
			t.Fatalf("a snapshot cut to %d bytes decoded", length)
		}
	}
}

// TestSaveFromLeavesNothingBehindACrash: a save cut off mid-write leaves a
// temporary file of its own, which Open removes, and a save that failed
// removes its own.
func TestSaveFromLeavesNothingBehindACrash(t *testing.T) {
	disk := vfs.NewMemFS()
	store, err := Open(disk, "/snap", Options{})
	if err != nil {
		t.Fatal(err)
	}
	metadata := raft.SnapshotMetadata{Index: 5, Term: 1}
	failing := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("image failed")))
	if err := store.SaveFrom(metadata, []byte("header"), failing); err == nil {
		t.Fatal("a save whose image failed succeeded")
	}
	if names, _ := disk.List("/snap"); len(names) != 0 {
		t.Fatalf("a failed save left %v", names)
	}
	// A crash mid-write: a temporary file named as SaveFrom names them.
	file, err := disk.Create("/snap/0000000000000005-0000000000000001.7.snap.tmp")
	if err != nil {
		t.Fatal(err)
	}
	file.WriteAt([]byte("partial"), 0)
	file.Close()
	if _, err := Open(disk, "/snap", Options{}); err != nil {
		t.Fatal(err)
	}
	if names, _ := disk.List("/snap"); len(names) != 0 {
		t.Fatalf("Open left %v", names)
	}
}

// TestSaveFromWritesOutsideTheLock: a store-sized image being saved must
// not hold up the store's other calls (the runtime reads snapshot headers
// on its loop while one is written): the lock is free while the image is
// read.
func TestSaveFromWritesOutsideTheLock(t *testing.T) {
	store, err := Open(vfs.NewMemFS(), "/snap", Options{})
	if err != nil {
		t.Fatal(err)
	}
	image := &lockProbe{store: store}
	if err := store.SaveFrom(raft.SnapshotMetadata{Index: 5, Term: 1}, []byte("header"), image); err != nil {
		t.Fatal(err)
	}
	if !image.probed || !image.wasFree {
		t.Fatalf("probed %v, lock free %v: SaveFrom held the store's lock while it read the image", image.probed, image.wasFree)
	}
}

// lockProbe is an image of a few bytes that, when read, notes whether the
// store's lock is free.
type lockProbe struct {
	store           *Store
	probed, wasFree bool
}

func (p *lockProbe) Read(buffer []byte) (int, error) {
	if p.probed {
		return 0, io.EOF
	}
	p.probed = true
	if p.store.mu.TryLock() {
		p.wasFree = true
		p.store.mu.Unlock()
	}
	return copy(buffer, "image"), nil
}
