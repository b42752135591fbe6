package vfs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func writeFile(t *testing.T, fileSystem *MemFS, name string, data []byte, sync bool) File {
	t.Helper()
	file, err := fileSystem.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := file.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	return file
}

func readAll(t *testing.T, fileSystem FS, name string) []byte {
	t.Helper()
	file, err := fileSystem.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	size, err := file.Size()
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	if _, err := file.ReadAt(data, 0); err != nil && size > 0 {
		t.Fatal(err)
	}
	return data
}

func TestMemFSCrashLosesUnsyncedNamesAndData(t *testing.T) {
	fileSystem := NewMemFS()
	if err := fileSystem.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	synced := writeFile(t, fileSystem, "/d/synced", []byte("durable"), true)
	if err := fileSystem.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fileSystem, "/d/unnamed", []byte("lost"), true) // no SyncDir
	if _, err := synced.WriteAt([]byte("XX"), 0); err != nil {
		t.Fatal(err)
	}
	fileSystem.Crash(nil)

	if _, err := synced.WriteAt([]byte("a"), 0); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write through a pre-crash handle: got %v, want ErrCrashed", err)
	}
	if got := readAll(t, fileSystem, "/d/synced"); string(got) != "durable" {
		t.Fatalf("synced file after crash = %q, want %q", got, "durable")
	}
	if _, err := fileSystem.Open("/d/unnamed"); err == nil {
		t.Fatal("a file whose directory was never synced survived the crash")
	}
}

func TestMemFSRenameDurableOnlyAfterSyncDir(t *testing.T) {
	fileSystem := NewMemFS()
	writeFile(t, fileSystem, "/a", []byte("x"), true)
	if err := fileSystem.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	if err := fileSystem.Rename("/a", "/b"); err != nil {
		t.Fatal(err)
	}
	fileSystem.Crash(nil)
	if names, _ := fileSystem.List("/"); len(names) != 1 || names[0] != "a" {
		t.Fatalf("after crash names = %v, want [a]", names)
	}
}

func TestMemFSTornCrashKeepsOnlyWrittenSectors(t *testing.T) {
	fileSystem := NewMemFS()
	file := writeFile(t, fileSystem, "/f", make([]byte, 4*SectorSize), true)
	if err := fileSystem.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	pattern := bytes.Repeat([]byte{0xAB}, 4*SectorSize)
	if _, err := file.WriteAt(pattern, 0); err != nil {
		t.Fatal(err)
	}
	fileSystem.Crash(rand.New(rand.NewPCG(1, 2)))
	got := readAll(t, fileSystem, "/f")
	if len(got) != 4*SectorSize {
		t.Fatalf("size after crash = %d", len(got))
	}
	for sector := range 4 {
		piece := got[sector*SectorSize : (sector+1)*SectorSize]
		if !bytes.Equal(piece, pattern[:SectorSize]) && !bytes.Equal(piece, make([]byte, SectorSize)) {
			t.Fatalf("sector %d is neither old nor new content", sector)
		}
	}
}

func TestMemFSFaultInjection(t *testing.T) {
	fileSystem := NewMemFS()
	file := writeFile(t, fileSystem, "/f", []byte("x"), false)
	fileSystem.SetFault(func(operation Operation, name string) error {
		if operation == OperationSync {
			return ErrInjected
		}
		return nil
	})
	if err := file.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("Sync = %v, want ErrInjected", err)
	}
	fileSystem.SetFault(nil)
	if err := file.Sync(); err != nil {
		t.Fatalf("Sync after removing the fault = %v", err)
	}
}
