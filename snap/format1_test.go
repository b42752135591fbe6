package snap

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lockstepdb/lockstep/internal/formatfixture"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// Snapshot files written in format 1 load, whole and streamed, with the
// metadata and data the code that wrote them read back; a store of them
// takes a new snapshot beside them.
func TestLoadsFormat1Snapshots(t *testing.T) {
	expected := formatfixture.Load(t)
	for _, fixture := range []struct {
		name, part string
		want       formatfixture.Storage
	}{
		{"member", "member/raft/snap", expected.Member},
		{"joint membership", "storage/snap", expected.Storage},
	} {
		t.Run(fixture.name, func(t *testing.T) {
			want := fixture.want
			directory := formatfixture.Copy(t, fixture.part)
			store, err := Open(vfs.OS, directory, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if names, err := store.Names(); err != nil || !reflect.DeepEqual(names, want.Snapshots) {
				t.Fatalf("names %v (%v), want %v", names, err, want.Snapshots)
			}
			snapshot, err := store.Load()
			if err != nil {
				t.Fatalf("load a snapshot of format 1: %v", err)
			}
			if !reflect.DeepEqual(snapshot.Metadata, want.Snapshot) || formatfixture.Digest(snapshot.Data) != want.SnapshotDataSHA256 {
				t.Fatalf("loaded %+v with data %s, want %+v with data %s", snapshot.Metadata, formatfixture.Digest(snapshot.Data), want.Snapshot, want.SnapshotDataSHA256)
			}
			if metadata, err := store.LoadMetadata(); err != nil || !reflect.DeepEqual(metadata, want.Snapshot) {
				t.Fatalf("LoadMetadata: %+v, %v", metadata, err)
			}
			reader, err := store.OpenData(want.Snapshot)
			if err != nil {
				t.Fatal(err)
			}
			defer reader.Close()
			streamed, err := io.ReadAll(reader)
			if err != nil || formatfixture.Digest(streamed) != want.SnapshotDataSHA256 || !reflect.DeepEqual(reader.Metadata(), want.Snapshot) {
				t.Fatalf("streamed %+v with data %s (%v)", reader.Metadata(), formatfixture.Digest(streamed), err)
			}

			next := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: want.Snapshot.Index + 10, Term: want.Snapshot.Term,
				Membership: raft.Membership{Voters: want.Snapshot.Membership.Voters}}, Data: []byte("newer")}
			if err := store.Save(next); err != nil {
				t.Fatal(err)
			}
			if loaded, err := store.Load(); err != nil || !sameSnapshot(loaded, next) {
				t.Fatalf("after saving a newer snapshot, Load = %+v, %v", loaded.Metadata, err)
			}
			// The fixture's files are of format 1, the new one of the
			// current format.
			names, _ := store.Names()
			for _, name := range names {
				content, err := os.ReadFile(filepath.Join(directory, name))
				if err != nil {
					t.Fatal(err)
				}
				want := uint32(1)
				if name == fileName(next.Metadata.Index, next.Metadata.Term) {
					want = formatVersion
				}
				if version := binary.LittleEndian.Uint32(content[8:]); version != want {
					t.Errorf("%s is of format %d, want %d", name, version, want)
				}
			}
		})
	}
}
