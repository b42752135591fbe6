package snap

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

func randomBytes(seed uint64, size int) []byte {
	random := rand.New(rand.NewPCG(seed, 2))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(random.Uint32())
	}
	return data
}

// TestOpenDataStreamsAndVerifies reads a saved snapshot back through
// OpenData in small pieces: the same bytes as Data, and a flipped byte
// anywhere in the data is reported at the end instead of io.EOF.
func TestOpenDataStreamsAndVerifies(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 3)
	data := randomBytes(1, 3*streamChunk+77)
	metadata := raft.SnapshotMetadata{Index: 40, Term: 3, Membership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}}}
	if err := store.Save(raft.Snapshot{Metadata: metadata, Data: data}); err != nil {
		t.Fatal(err)
	}
	reader, err := store.OpenData(metadata)
	if err != nil {
		t.Fatal(err)
	}
	if reader.Size() != int64(len(data)) {
		t.Fatalf("size %d, want %d", reader.Size(), len(data))
	}
	got, err := io.ReadAll(iotest.HalfReader(reader))
	reader.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v), want the %d saved", len(got), err, len(data))
	}
	if _, err := store.OpenData(raft.SnapshotMetadata{Index: 40, Term: 4}); err == nil {
		t.Fatal("opened a snapshot with the wrong term")
	}

	// Damage one data byte: the reader yields everything, then the error.
	path := store.dir + "/" + fileName(40, 3)
	file, err := fileSystem.OpenReadWrite(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteAt([]byte{0xff ^ data[1000]}, int64(len(encodeHead(metadata, 0)))+1000); err != nil {
		t.Fatal(err)
	}
	file.Close()
	reader, err = store.OpenData(metadata)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	_, err = io.ReadAll(reader)
	var corruption *CorruptionError
	if !errors.As(err, &corruption) {
		t.Fatalf("reading a damaged snapshot: %v, want a *CorruptionError", err)
	}
}

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

// TestLoadMetadataAgreesWithLoad: LoadMetadata picks the same snapshot as
// Load, skipping a damaged newest one, with the same metadata.
func TestLoadMetadataAgreesWithLoad(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 3)
	if _, err := store.LoadMetadata(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("empty store: %v, want ErrNoSnapshot", err)
	}
	older := raft.SnapshotMetadata{Index: 10, Term: 1, Membership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}}}
	newer := raft.SnapshotMetadata{Index: 20, Term: 2, Membership: raft.Membership{Voters: []raft.NodeID{1, 2}, Learners: []raft.NodeID{5}}}
	for _, metadata := range []raft.SnapshotMetadata{older, newer} {
		if err := store.Save(raft.Snapshot{Metadata: metadata, Data: randomBytes(metadata.Index, 5000)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := store.LoadMetadata()
	if err != nil || got.Index != 20 || got.Term != 2 || len(got.Membership.Learners) != 1 || got.Membership.Learners[0] != 5 {
		t.Fatalf("LoadMetadata: %+v (%v), want snapshot 20 with its membership", got, err)
	}
	file, _ := fileSystem.OpenReadWrite(store.dir + "/" + fileName(20, 2))
	file.WriteAt([]byte("damage"), 100)
	file.Close()
	got, err = store.LoadMetadata()
	loaded, loadErr := store.Load()
	if err != nil || loadErr != nil || got.Index != 10 || loaded.Metadata.Index != 10 || len(got.Membership.Voters) != 3 {
		t.Fatalf("with the newest damaged: LoadMetadata %+v (%v), Load %d (%v); want both at 10", got, err, loaded.Metadata.Index, loadErr)
	}
}

// TestRewindReadsTheSameDataAfterRemoval: a reader rewound after its
// snapshot was removed from the store reads (and verifies) it again.
func TestRewindReadsTheSameDataAfterRemoval(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 1)
	data := randomBytes(4, streamChunk+100)
	first := raft.SnapshotMetadata{Index: 10, Term: 1}
	if err := store.Save(raft.Snapshot{Metadata: first, Data: data}); err != nil {
		t.Fatal(err)
	}
	reader, err := store.OpenData(first)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if got, err := io.ReadAll(reader); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("first read: %d bytes, %v", len(got), err)
	}
	// Retain is 1: saving a newer snapshot removes the first's file.
	if err := store.Save(raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 20, Term: 1}, Data: []byte("newer")}); err != nil {
		t.Fatal(err)
	}
	reader.Rewind()
	if got, err := io.ReadAll(reader); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after Rewind: %d bytes, %v", len(got), err)
	}
}
