package snap

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
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
