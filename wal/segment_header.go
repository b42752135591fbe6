package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// segmentMagic opens every segment file.
const segmentMagic = "LKSTPWAL"

// formatVersion is the version of the segment and record format that new
// segments get. Version 2 stores the membership of compaction and snapshot
// records in raft's encoding (raft.AppendMembership); version 1, still
// read, stored it fixed-width (raft.DecodeLegacyMembership). The writer
// never appends to a segment of an older version: it starts a new one.
const formatVersion = 2

// oldestFormatVersion is the oldest segment format this build reads.
const oldestFormatVersion = 1

// segmentHeaderSize is the size of the segment header; the first record
// starts right after it.
const segmentHeaderSize = 40

// castagnoli is the CRC-32C table used for every checksum in the log.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segmentHeader is the fixed header of a segment file:
//
//	offset  size  field
//	0       8     magic "LKSTPWAL"
//	8       4     format version (little endian; 1 or 2)
//	12      4     batch number of the first record in the segment
//	16      8     segment sequence number
//	24      8     first index: the index the next entry had when the segment was created
//	32      4     CRC-32C of bytes 0..31
//	36      4     zero
type segmentHeader struct {
	// version is the format version: formatVersion for a segment this
	// build creates, older for one it only reads and removes.
	version    uint32
	sequence   uint64
	firstIndex uint64
	firstBatch uint32
}

func (h segmentHeader) encode() []byte {
	buffer := make([]byte, segmentHeaderSize)
	copy(buffer, segmentMagic)
	binary.LittleEndian.PutUint32(buffer[8:], h.version)
	binary.LittleEndian.PutUint32(buffer[12:], h.firstBatch)
	binary.LittleEndian.PutUint64(buffer[16:], h.sequence)
	binary.LittleEndian.PutUint64(buffer[24:], h.firstIndex)
	binary.LittleEndian.PutUint32(buffer[32:], crc32.Checksum(buffer[:32], castagnoli))
	return buffer
}

// decodeSegmentHeader parses a segment header. The error says what is
// wrong; the caller turns it into a CorruptionError.
func decodeSegmentHeader(data []byte) (segmentHeader, error) {
	if len(data) < segmentHeaderSize {
		return segmentHeader{}, fmt.Errorf("segment header is %d bytes, want %d", len(data), segmentHeaderSize)
	}
	if string(data[:8]) != segmentMagic {
		return segmentHeader{}, fmt.Errorf("bad magic %q", data[:8])
	}
	if got, want := binary.LittleEndian.Uint32(data[32:]), crc32.Checksum(data[:32], castagnoli); got != want {
		return segmentHeader{}, fmt.Errorf("segment header checksum %08x, want %08x", got, want)
	}
	if binary.LittleEndian.Uint32(data[36:]) != 0 {
		return segmentHeader{}, fmt.Errorf("reserved segment header bytes are not zero")
	}
	version := binary.LittleEndian.Uint32(data[8:])
	if version < oldestFormatVersion || version > formatVersion {
		return segmentHeader{}, fmt.Errorf("unsupported format version %d (this build reads %d to %d)", version, oldestFormatVersion, formatVersion)
	}
	return segmentHeader{
		version:    version,
		firstBatch: binary.LittleEndian.Uint32(data[12:]),
		sequence:   binary.LittleEndian.Uint64(data[16:]),
		firstIndex: binary.LittleEndian.Uint64(data[24:]),
	}, nil
}
