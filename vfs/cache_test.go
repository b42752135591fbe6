package vfs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDropCacheKeepsContent drops the cached pages of a synced file and
// reads it back.
func TestDropCacheKeepsContent(t *testing.T) {
	name := filepath.Join(t.TempDir(), "file")
	file, err := OS.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteAt([]byte("durable"), 0); err != nil {
		t.Fatal(err)
	}
	if err := file.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := DropCache(OS, name); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(name); err != nil || string(data) != "durable" {
		t.Fatalf("after DropCache: %q, %v", data, err)
	}
	if err := DropCache(NewMemFS(), "/anything"); err != nil {
		t.Fatalf("MemFS DropCache: %v", err)
	}
}
