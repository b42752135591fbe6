package vfs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOSMkdirAll creates nested directories (fsyncing each parent), is a
// no-op on an existing directory, and refuses a path that is a file.
func TestOSMkdirAll(t *testing.T) {
	root := t.TempDir()
	nested := filepath.Join(root, "a", "b", "c")
	if err := OS.MkdirAll(nested); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(nested); err != nil || !info.IsDir() {
		t.Fatalf("after MkdirAll: %v", err)
	}
	if err := OS.MkdirAll(nested + "/"); err != nil {
		t.Fatalf("MkdirAll of an existing directory: %v", err)
	}
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := OS.MkdirAll(filepath.Join(file, "below")); err == nil {
		t.Fatal("MkdirAll below a file succeeded")
	}
	if err := OS.MkdirAll(file); err == nil {
		t.Fatal("MkdirAll of a file succeeded")
	}
}
