package snap

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestReceiveStagesThenInstalls writes a snapshot through Receive: it is
// not a snapshot of the store until Install, and then it is the same file
// Save would have written.
func TestReceiveStagesThenInstalls(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 3)
	data := randomBytes(2, 2*streamChunk+5)
	metadata := raft.SnapshotMetadata{Index: 90, Term: 7, Membership: raft.Membership{Voters: []raft.NodeID{1, 2}, Learners: []raft.NodeID{4}}}
	incoming, err := store.Receive(metadata, uint64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for offset := 0; offset < len(data); offset += 1000 {
		if _, err := incoming.Write(data[offset:min(offset+1000, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := incoming.Finish(); err != nil {
		t.Fatal(err)
	}
	if names, _ := store.Names(); len(names) != 0 {
		t.Fatalf("a staged snapshot is listed before Install: %v", names)
	}
	if err := store.Install(raft.SnapshotMetadata{Index: 90, Term: 8}); err == nil {
		t.Fatal("installed a snapshot that never arrived")
	}
	if err := store.Install(metadata); err != nil {
		t.Fatal(err)
	}
	loaded, err := store.Load()
	if err != nil || loaded.Metadata.Index != 90 || !bytes.Equal(loaded.Data, data) {
		t.Fatalf("loaded %d with %d bytes (%v)", loaded.Metadata.Index, len(loaded.Data), err)
	}
	file, _ := fileSystem.Open(store.dir + "/" + fileName(90, 7))
	size, _ := file.Size()
	content := make([]byte, size)
	file.ReadAt(content, 0)
	file.Close()
	if !bytes.Equal(content, encode(raft.Snapshot{Metadata: metadata, Data: data})) {
		t.Fatal("a received file differs from the same snapshot saved whole")
	}
	if err := store.Install(metadata); err == nil {
		t.Fatal("installed the same received snapshot twice")
	}
}

// TestIncompleteTransfersLeaveNothing: too many bytes, too few, an abort,
// or a crash before Install all leave no snapshot and no file behind (the
// crash's after the next Open).
func TestIncompleteTransfersLeaveNothing(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 3)
	metadata := raft.SnapshotMetadata{Index: 5, Term: 1}

	tooMany, _ := store.Receive(metadata, 3)
	if _, err := tooMany.Write([]byte("four")); err == nil {
		t.Error("wrote 4 bytes into a snapshot of 3")
	}
	tooMany.Abort()
	tooFew, _ := store.Receive(metadata, 3)
	tooFew.Write([]byte("ab"))
	if err := tooFew.Finish(); err == nil {
		t.Error("finished a snapshot a byte short")
	}
	if err := store.Install(metadata); err == nil {
		t.Error("installed an incomplete snapshot")
	}
	if files, _ := fileSystem.List(store.dir); len(files) != 0 {
		t.Errorf("files left behind: %v", files)
	}

	// Staged, then the process crashes: Open removes it.
	staged, _ := store.Receive(metadata, 3)
	staged.Write([]byte("abc"))
	if err := staged.Finish(); err != nil {
		t.Fatal(err)
	}
	fileSystem.SyncDir(store.dir)
	fileSystem.Crash(nil)
	reopened := openStore(t, fileSystem, 3)
	if files, _ := fileSystem.List(reopened.dir); len(files) != 0 {
		t.Errorf("after a restart, files left behind: %v", files)
	}
	if _, err := reopened.Load(); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("after a restart: %v, want no snapshot", err)
	}
}

// TestStagingKeepsWhatMayBeInstalled: a staged snapshot stays staged until
// one at or above its index is installed (its message may be queued for
// the runtime meanwhile); a copy of the same snapshot replaces it.
func TestStagingKeepsWhatMayBeInstalled(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 3)
	stage := func(index uint64) {
		incoming, err := store.Receive(raft.SnapshotMetadata{Index: index, Term: 1}, 1)
		if err != nil {
			t.Fatal(err)
		}
		incoming.Write([]byte{byte(index)})
		if err := incoming.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	incomingFiles := func() int {
		files, _ := fileSystem.List(store.dir)
		count := 0
		for _, name := range files {
			if strings.HasSuffix(name, incomingSuffix) {
				count++
			}
		}
		return count
	}
	stage(10)
	stage(20)
	stage(15)
	stage(15) // a copy replaces the first
	if n := incomingFiles(); n != 3 {
		t.Errorf("%d staged files, want 3", n)
	}
	if err := store.Install(raft.SnapshotMetadata{Index: 15, Term: 1}); err != nil {
		t.Fatal(err)
	}
	if err := store.Install(raft.SnapshotMetadata{Index: 10, Term: 1}); err == nil {
		t.Error("installed a staged snapshot below one already installed")
	}
	if err := store.Install(raft.SnapshotMetadata{Index: 20, Term: 1}); err != nil {
		t.Fatalf("a snapshot staged above the installed one was discarded: %v", err)
	}
	if n := incomingFiles(); n != 0 {
		t.Errorf("%d staged files after the installs, want 0", n)
	}
	stage(30)
	store.DiscardStaged(29)
	if n := incomingFiles(); n != 1 {
		t.Errorf("DiscardStaged(29) left %d staged files, want snapshot 30's", n)
	}
	store.DiscardStaged(30)
	if n := incomingFiles(); n != 0 {
		t.Errorf("DiscardStaged(30) left %d staged files, want none", n)
	}
	if err := store.Install(raft.SnapshotMetadata{Index: 30, Term: 1}); err == nil {
		t.Error("installed a discarded snapshot")
	}
}

// TestInstallRefusesADamagedStagedFile: what reached the disk is read back
// before the snapshot is installed.
func TestInstallRefusesADamagedStagedFile(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 3)
	metadata := raft.SnapshotMetadata{Index: 30, Term: 2}
	incoming, _ := store.Receive(metadata, 4096)
	incoming.Write(randomBytes(3, 4096))
	if err := incoming.Finish(); err != nil {
		t.Fatal(err)
	}
	file, err := fileSystem.OpenReadWrite(incoming.path)
	if err != nil {
		t.Fatal(err)
	}
	file.WriteAt([]byte("bit rot"), 2000)
	file.Close()
	var corruption *CorruptionError
	if err := store.Install(metadata); !errors.As(err, &corruption) {
		t.Fatalf("installing a damaged staged file: %v, want a *CorruptionError", err)
	}
	if names, _ := store.Names(); len(names) != 0 {
		t.Fatalf("a damaged snapshot was installed: %v", names)
	}
}
