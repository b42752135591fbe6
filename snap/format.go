package snap

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/wal"
)

// fileMagic opens every snapshot file.
const fileMagic = "LKSTPSNP"

// formatVersion is the version of the snapshot file format.
const formatVersion = 1

// headerSize is the size of the fixed header; trailerSize that of the
// checksum at the end.
const (
	headerSize  = 40
	trailerSize = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encode returns the file content for snapshot. Layout, little endian:
//
//	offset  size  field
//	0       8     magic "LKSTPSNP"
//	8       4     format version
//	12      4     membership length m
//	16      8     index
//	24      8     term
//	32      8     data length d
//	40      m     membership (wal.EncodeMembership)
//	40+m    d     data
//	40+m+d  4     CRC-32C of every byte before it
func encode(snapshot raft.Snapshot) []byte {
	head, trailer := encodeFrame(snapshot)
	buffer := make([]byte, 0, len(head)+len(snapshot.Data)+len(trailer))
	buffer = append(buffer, head...)
	buffer = append(buffer, snapshot.Data...)
	return append(buffer, trailer...)
}

// encodeFrame returns what goes before the snapshot's data (header and
// membership) and after it (the checksum of everything before), so a large
// snapshot is written without being copied into one buffer.
func encodeFrame(snapshot raft.Snapshot) (head, trailer []byte) {
	membership := wal.EncodeMembership(nil, snapshot.Metadata.Membership)
	head = make([]byte, headerSize, headerSize+len(membership))
	copy(head, fileMagic)
	binary.LittleEndian.PutUint32(head[8:], formatVersion)
	binary.LittleEndian.PutUint32(head[12:], uint32(len(membership)))
	binary.LittleEndian.PutUint64(head[16:], snapshot.Metadata.Index)
	binary.LittleEndian.PutUint64(head[24:], snapshot.Metadata.Term)
	binary.LittleEndian.PutUint64(head[32:], uint64(len(snapshot.Data)))
	head = append(head, membership...)
	checksum := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, snapshot.Data)
	return head, binary.LittleEndian.AppendUint32(nil, checksum)
}

// decode parses and verifies a snapshot file's content. It never panics;
// the error says what is wrong. The returned Data aliases content.
func decode(content []byte) (raft.Snapshot, error) {
	if len(content) < headerSize+trailerSize {
		return raft.Snapshot{}, fmt.Errorf("file is %d bytes, too short for a snapshot", len(content))
	}
	body := content[:len(content)-trailerSize]
	if got, want := binary.LittleEndian.Uint32(content[len(body):]), crc32.Checksum(body, castagnoli); got != want {
		return raft.Snapshot{}, fmt.Errorf("checksum %08x, want %08x", got, want)
	}
	if string(body[:8]) != fileMagic {
		return raft.Snapshot{}, fmt.Errorf("bad magic %q", body[:8])
	}
	if version := binary.LittleEndian.Uint32(body[8:]); version != formatVersion {
		return raft.Snapshot{}, fmt.Errorf("unsupported format version %d (this build reads %d)", version, formatVersion)
	}
	membershipLength := uint64(binary.LittleEndian.Uint32(body[12:]))
	dataLength := binary.LittleEndian.Uint64(body[32:])
	rest := uint64(len(body) - headerSize)
	if membershipLength > rest || dataLength != rest-membershipLength {
		return raft.Snapshot{}, fmt.Errorf("lengths (membership %d, data %d) do not match the %d bytes present", membershipLength, dataLength, rest)
	}
	membership, err := wal.DecodeMembership(body[headerSize : headerSize+membershipLength])
	if err != nil {
		return raft.Snapshot{}, err
	}
	return raft.Snapshot{
		Metadata: raft.SnapshotMetadata{
			Index:      binary.LittleEndian.Uint64(body[16:]),
			Term:       binary.LittleEndian.Uint64(body[24:]),
			Membership: membership,
		},
		Data: body[headerSize+membershipLength:],
	}, nil
}
