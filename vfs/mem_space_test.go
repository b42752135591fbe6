package vfs

import (
	"bytes"
	"errors"
	"testing"
)

// TestMemFSCapacityFillsLikeADisk: with a capacity, growing writes fail
// with ENOSPC after writing what fits, growing truncations fail whole,
// writes into a file's existing bytes still succeed, and removing a file
// gives its space back.
func TestMemFSCapacityFillsLikeADisk(t *testing.T) {
	fileSystem := NewMemFS()
	preallocated := writeFile(t, fileSystem, "/segment", make([]byte, 100), true)
	fileSystem.SetCapacity(150)
	if free, err := FreeSpace(fileSystem, "/"); err != nil || free != 50 {
		t.Fatalf("FreeSpace = %d, %v; want 50", free, err)
	}

	file, err := fileSystem.Create("/log")
	if err != nil {
		t.Fatal(err)
	}
	written, err := file.WriteAt(bytes.Repeat([]byte("x"), 80), 0)
	if !IsNoSpace(err) || written != 50 {
		t.Fatalf("a write of 80 bytes into 50 free = %d, %v; want 50 written and ENOSPC", written, err)
	}
	if got := readAll(t, fileSystem, "/log"); !bytes.Equal(got, bytes.Repeat([]byte("x"), 50)) {
		t.Fatalf("after the short write the file holds %q, want the 50 bytes that fit", got)
	}
	if err := file.Truncate(60); !IsNoSpace(err) {
		t.Fatalf("growing truncation on a full disk = %v, want ENOSPC", err)
	}
	if size, _ := file.Size(); size != 50 {
		t.Fatalf("a refused truncation changed the size to %d", size)
	}

	// Preallocated space: overwriting existing bytes needs none.
	if written, err := preallocated.WriteAt([]byte("record"), 10); err != nil || written != 6 {
		t.Fatalf("a write into preallocated space on a full disk = %d, %v; want it to succeed", written, err)
	}

	if err := file.Truncate(20); err != nil {
		t.Fatalf("shrinking on a full disk: %v", err)
	}
	if written, err := file.WriteAt([]byte("0123456789"), 20); err != nil || written != 10 {
		t.Fatalf("a write into the space the truncation freed = %d, %v", written, err)
	}
	if err := fileSystem.Remove("/segment"); err != nil {
		t.Fatal(err)
	}
	if refusals := fileSystem.NoSpaceRefusals(); refusals != 2 {
		t.Fatalf("NoSpaceRefusals = %d, want 2 (the short write, the truncation)", refusals)
	}
	if used := fileSystem.Used(); used != 30 {
		t.Fatalf("Used = %d after removing the segment, want 30", used)
	}
	fileSystem.SetCapacity(0)
	if written, err := file.WriteAt(make([]byte, 1000), 30); err != nil || written != 1000 {
		t.Fatalf("a write after the capacity was lifted = %d, %v", written, err)
	}
	if _, err := fileSystem.FreeSpace("/"); !errors.Is(err, ErrNoSpaceReport) {
		t.Fatalf("FreeSpace without a capacity = %v, want ErrNoSpaceReport", err)
	}
}
