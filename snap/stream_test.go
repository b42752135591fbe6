package snap

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// TestSaveFromStreamsTheImage saves a snapshot whose image is larger than
// the streaming buffer, read in small pieces, and checks that it loads
// back whole and verified, byte for byte the same as Save would write.
func TestSaveFromStreamsTheImage(t *testing.T) {
	fileSystem := vfs.NewMemFS()
	store := openStore(t, fileSystem, 3)
	random := rand.New(rand.NewPCG(1, 2))
	image := make([]byte, 3*streamChunk+1234)
	for i := range image {
		image[i] = byte(random.Uint32())
	}
	prefix := []byte("runtime header")
	metadata := raft.SnapshotMetadata{Index: 40, Term: 3, Membership: raft.Membership{Voters: []raft.NodeID{1, 2, 3}}}
	if err := store.SaveFrom(metadata, prefix, iotest.HalfReader(bytes.NewReader(image))); err != nil {
		t.Fatal(err)
	}
	loaded, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, prefix...), image...)
	if loaded.Metadata.Index != 40 || loaded.Metadata.Term != 3 || !bytes.Equal(loaded.Data, want) {
		t.Fatalf("loaded %d/%d with %d bytes, want 40/3 with %d", loaded.Metadata.Index, loaded.Metadata.Term, len(loaded.Data), len(want))
	}
	file, err := fileSystem.Open(store.dir + "/" + fileName(40, 3))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	size, _ := file.Size()
	content := make([]byte, size)
	if _, err := file.ReadAt(content, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(content, encode(raft.Snapshot{Metadata: metadata, Data: want})) {
		t.Fatal("a streamed file differs from the same snapshot encoded whole")
	}
	// A failing image leaves no snapshot behind.
	if err := store.SaveFrom(raft.SnapshotMetadata{Index: 50, Term: 3}, nil, iotest.ErrReader(bytes.ErrTooLarge)); err == nil {
		t.Fatal("an image that failed to read was saved")
	}
	if latest, err := store.Load(); err != nil || latest.Metadata.Index != 40 {
		t.Fatalf("after a failed save the newest is %d (%v), want 40", latest.Metadata.Index, err)
	}
}
