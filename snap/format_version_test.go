package snap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/lockstepdb/lockstep/vfs"
)

// A snapshot file of a format this build does not know (a newer build's,
// or no version at all) is refused, loaded whole or streamed, with an
// error that names the version.
func TestRefusesUnknownSnapshotFormats(t *testing.T) {
	snapshot := makeSnapshot(10)
	for _, version := range []uint32{0, formatVersion + 1} {
		content := encode(snapshot)
		binary.LittleEndian.PutUint32(content[8:], version)
		body := content[:len(content)-trailerSize]
		binary.LittleEndian.PutUint32(content[len(body):], crc32.Checksum(body, castagnoli))
		if _, err := decode(content); err == nil || !strings.Contains(err.Error(), "unsupported format version") {
			t.Errorf("a file of format %d decoded with error %v", version, err)
		}

		fileSystem := vfs.NewMemFS()
		store := openStore(t, fileSystem, 2)
		if err := store.Save(snapshot); err != nil {
			t.Fatal(err)
		}
		file, err := fileSystem.OpenReadWrite(testDir + "/" + fileName(10, 1))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := file.WriteAt(content, 0); err != nil {
			t.Fatal(err)
		}
		file.Close()
		var corruption *CorruptionError
		if _, err := store.OpenData(snapshot.Metadata); !errors.As(err, &corruption) || !strings.Contains(err.Error(), "unsupported format version") {
			t.Errorf("a file of format %d opened for streaming with error %v", version, err)
		}
	}
}

// The file format is fixed by formatVersion: the membership is raft's
// encoding, version byte first.
func TestSnapshotFileHoldsRaftsMembershipEncoding(t *testing.T) {
	content := encode(makeSnapshot(10))
	length := binary.LittleEndian.Uint32(content[12:])
	membership := content[headerSize : headerSize+length]
	want := []byte{1, 3, 1, 2, 3, 0, 1, 4}
	if binary.LittleEndian.Uint32(content[8:]) != formatVersion || !bytes.Equal(membership, want) {
		t.Fatalf("format %d, membership %x; want %d, %x", binary.LittleEndian.Uint32(content[8:]), membership, formatVersion, want)
	}
}
