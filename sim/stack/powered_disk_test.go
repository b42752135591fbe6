package stack

import (
	"errors"
	"testing"

	"github.com/lockstepdb/lockstep/vfs"
)

// TestPoweredDiskWritesNothingAfterItsCrash: once an incarnation's disk
// crashes, nothing it does reaches the disk the next incarnation reads:
// not a new file, a rename or a directory sync (MemFS alone lets those
// through, since only the handles opened before its crash die); what it
// made durable before survives.
func TestPoweredDiskWritesNothingAfterItsCrash(t *testing.T) {
	disk := vfs.NewMemFS()
	old := &poweredDisk{disk: disk}
	if err := writeSyncedFile(old, "/kept", []byte("durable")); err != nil {
		t.Fatal(err)
	}
	if err := old.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	old.crash(nil)
	for name, operation := range map[string]func() error{
		"create":  func() error { return writeSyncedFile(old, "/zombie", []byte("after the crash")) },
		"rename":  func() error { return old.Rename("/kept", "/moved") },
		"syncdir": func() error { return old.SyncDir("/") },
		"remove":  func() error { return old.Remove("/kept") },
	} {
		if err := operation(); !errors.Is(err, vfs.ErrCrashed) {
			t.Errorf("%s after the crash: %v, want ErrCrashed", name, err)
		}
	}
	next := &poweredDisk{disk: disk}
	names, err := next.List("/")
	if err != nil || len(names) != 1 || names[0] != "kept" {
		t.Fatalf("the next incarnation's disk holds %v (%v), want only the file made durable before the crash", names, err)
	}
	if data, err := readWholeFile(next, "/kept"); err != nil || string(data) != "durable" {
		t.Errorf("the durable file after the crash: %q, %v", data, err)
	}
}
