package snap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// fileMagic opens every snapshot file.
const fileMagic = "LKSTPSNP"

// formatVersion is the version of the snapshot file format this build
// writes. Version 2 stores the membership in raft's encoding
// (raft.AppendMembership); version 1, still read, stored it fixed-width
// (raft.DecodeLegacyMembership).
const formatVersion = 2

// oldestFormatVersion is the oldest snapshot file format this build reads.
const oldestFormatVersion = 1

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
//	8       4     format version (1 or 2)
//	12      4     membership length m
//	16      8     index
//	24      8     term
//	32      8     data length d
//	40      m     membership (raft.AppendMembership; fixed-width in version 1)
//	40+m    d     data
//	40+m+d  4     CRC-32C of every byte before it
func encode(snapshot raft.Snapshot) []byte {
	buffer := append(encodeHead(snapshot.Metadata, uint64(len(snapshot.Data))), snapshot.Data...)
	return binary.LittleEndian.AppendUint32(buffer, crc32.Checksum(buffer, castagnoli))
}

// encodeHead returns the header and membership of a snapshot file whose
// data is dataLength bytes.
func encodeHead(metadata raft.SnapshotMetadata, dataLength uint64) []byte {
	membership := raft.EncodeMembership(metadata.Membership)
	head := make([]byte, headerSize, headerSize+len(membership))
	copy(head, fileMagic)
	binary.LittleEndian.PutUint32(head[8:], formatVersion)
	binary.LittleEndian.PutUint32(head[12:], uint32(len(membership)))
	binary.LittleEndian.PutUint64(head[16:], metadata.Index)
	binary.LittleEndian.PutUint64(head[24:], metadata.Term)
	binary.LittleEndian.PutUint64(head[32:], dataLength)
	return append(head, membership...)
}

// streamChunk is the buffer through which a streamed snapshot is written
// and read back for its checksum.
const streamChunk = 256 << 10

// writeFile writes a snapshot file whose data is prefix then image's
// bytes. The data goes first, after room for the head (whose size does not
// depend on the data length); then the head, now that the length is known;
// then the checksum, computed by reading the data back, since it covers
// the head before the data.
func writeFile(file vfs.File, metadata raft.SnapshotMetadata, prefix []byte, image io.Reader) error {
	offset := int64(len(encodeHead(metadata, 0)))
	if _, err := file.WriteAt(prefix, offset); err != nil {
		return err
	}
	length := int64(len(prefix))
	if image != nil {
		buffer := make([]byte, streamChunk)
		for {
			n, err := image.Read(buffer)
			if n > 0 {
				if _, writeErr := file.WriteAt(buffer[:n], offset+length); writeErr != nil {
					return writeErr
				}
				length += int64(n)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("read the image: %w", err)
			}
		}
	}
	head := encodeHead(metadata, uint64(length))
	if _, err := file.WriteAt(head, 0); err != nil {
		return err
	}
	checksum := crc32.Checksum(head, castagnoli)
	buffer := make([]byte, min(streamChunk, max(length, 1)))
	for read := int64(0); read < length; {
		chunk := buffer[:min(int64(len(buffer)), length-read)]
		if _, err := file.ReadAt(chunk, offset+read); err != nil {
			return fmt.Errorf("read back the data: %w", err)
		}
		checksum = crc32.Update(checksum, castagnoli, chunk)
		read += int64(len(chunk))
	}
	_, err := file.WriteAt(binary.LittleEndian.AppendUint32(nil, checksum), offset+length)
	return err
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
	version := binary.LittleEndian.Uint32(body[8:])
	if err := checkFormatVersion(version); err != nil {
		return raft.Snapshot{}, err
	}
	membershipLength := uint64(binary.LittleEndian.Uint32(body[12:]))
	dataLength := binary.LittleEndian.Uint64(body[32:])
	rest := uint64(len(body) - headerSize)
	if membershipLength > rest || dataLength != rest-membershipLength {
		return raft.Snapshot{}, fmt.Errorf("lengths (membership %d, data %d) do not match the %d bytes present", membershipLength, dataLength, rest)
	}
	membership, err := decodeMembership(version, body[headerSize:headerSize+membershipLength])
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

// checkFormatVersion says whether this build reads snapshot files of
// format version.
func checkFormatVersion(version uint32) error {
	if version < oldestFormatVersion || version > formatVersion {
		return fmt.Errorf("unsupported format version %d (this build reads %d to %d)", version, oldestFormatVersion, formatVersion)
	}
	return nil
}

// decodeMembership decodes the membership of a file of format version
// (checked by checkFormatVersion).
func decodeMembership(version uint32, data []byte) (raft.Membership, error) {
	if version == 1 {
		return raft.DecodeLegacyMembership(data)
	}
	return raft.DecodeMembership(data)
}
