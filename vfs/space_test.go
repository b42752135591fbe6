package vfs

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"testing"
)

// A full disk is recognised through the wrapping of the file system and
// of its callers; other errors are not taken for it.
func TestIsNoSpace(t *testing.T) {
	fileSystem := NewMemFS()
	fileSystem.SetFault(func(operation Operation, name string) error {
		if operation == OperationCreate {
			return syscall.ENOSPC
		}
		return ErrInjected
	})
	_, err := fileSystem.Create("/full")
	if !IsNoSpace(fmt.Errorf("wal: create segment: %w", err)) {
		t.Errorf("IsNoSpace(%v) = false, want true", err)
	}
	if _, err := fileSystem.Open("/other"); IsNoSpace(err) {
		t.Errorf("IsNoSpace(%v) = true for another error", err)
	}
	if IsNoSpace(nil) {
		t.Error("IsNoSpace(nil) = true")
	}
}

// The OS file system reports the space left (on the systems that can);
// the in-memory one says it cannot unless it has a capacity.
func TestFreeSpace(t *testing.T) {
	if _, err := FreeSpace(NewMemFS(), "/"); !errors.Is(err, ErrNoSpaceReport) {
		t.Errorf("FreeSpace of a MemFS: %v, want ErrNoSpaceReport", err)
	}
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("no statfs here")
	}
	free, err := FreeSpace(OS, t.TempDir())
	if err != nil || free == 0 {
		t.Errorf("FreeSpace of a temporary directory: %d, %v", free, err)
	}
}
