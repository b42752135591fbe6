package node

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// snapshotMagic opens the second snapshot format, which carries pending
// promotions after the address book. A snapshot without it is of the
// first format: the address book, then the image.
const snapshotMagic = "lockstep-snapshot-2\x00"

// imageKeptMagic opens the third format: the second's header, then the
// index the durable state machine held when the snapshot was taken, and no
// image. The machine keeps the state itself; a snapshot with an image is
// taken only when a follower needs one (see snapshot_image.go). Only this
// node's own snapshots take this format: one that travels always holds an
// image, in the second, so that a member of an older version can read it.
const imageKeptMagic = "lockstep-snapshot-3\x00"

// snapshotHeader is the runtime's part of a snapshot: its own replicated
// state, and whether an image follows.
type snapshotHeader struct {
	book       addressBook
	promotions map[raft.NodeID]bool
	// imageKept is set when no image follows: the durable state machine
	// holds the state, at machineIndex (its AppliedIndex at the capture,
	// made durable by its Snapshot) or later.
	imageKept    bool
	machineIndex uint64
}

// encodeImageKeptHeader is the header of a snapshot whose state the
// durable machine keeps, at machineIndex or later: imageKeptMagic, the
// address book and promotions as in encodeSnapshotHeader, then
// machineIndex as a uvarint. Nothing follows it.
func encodeImageKeptHeader(book addressBook, promotions map[raft.NodeID]bool, machineIndex uint64) []byte {
	buffer := encodeSnapshotHeader(book, promotions)
	buffer = append([]byte(imageKeptMagic), buffer[len(snapshotMagic):]...)
	return binary.AppendUvarint(buffer, machineIndex)
}

// encodeSnapshotHeader is what a snapshot holds before the state machine's
// image: the runtime's own replicated state. Layout: the magic, the address
// book (uvarint count, then uvarint id, uvarint length and address each),
// the pending promotions (uvarint count, then uvarint ids); the image
// follows.
func encodeSnapshotHeader(book addressBook, promotions map[raft.NodeID]bool) []byte {
	ids := make([]raft.NodeID, 0, len(book))
	for id := range book {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	buffer := []byte(snapshotMagic)
	buffer = binary.AppendUvarint(buffer, uint64(len(ids)))
	for _, id := range ids {
		buffer = binary.AppendUvarint(buffer, uint64(id))
		buffer = binary.AppendUvarint(buffer, uint64(len(book[id])))
		buffer = append(buffer, book[id]...)
	}
	pending := make([]raft.NodeID, 0, len(promotions))
	for id := range promotions {
		pending = append(pending, id)
	}
	slices.Sort(pending)
	buffer = binary.AppendUvarint(buffer, uint64(len(pending)))
	for _, id := range pending {
		buffer = binary.AppendUvarint(buffer, uint64(id))
	}
	return buffer
}

// decodeSnapshot splits a snapshot's data held in memory into the
// runtime's header and the state machine's image (which aliases data).
// Snapshots held in memory travel, or come from a node that does not
// stream them; neither is ever without its image, so one is refused.
func decodeSnapshot(data []byte) (addressBook, map[raft.NodeID]bool, []byte, error) {
	source := bytes.NewReader(data)
	buffered := bufio.NewReader(source)
	header, err := decodeSnapshotHeader(buffered)
	if err != nil {
		return nil, nil, nil, err
	}
	if header.imageKept {
		return nil, nil, nil, fmt.Errorf("%w: a snapshot in memory without its image", errBadRecord)
	}
	consumed := len(data) - source.Len() - buffered.Buffered()
	return header.book, header.promotions, data[consumed:], nil
}

// Bounds on a snapshot header, so that a damaged count cannot make the
// decoder allocate without limit before the data runs out.
const (
	maxHeaderPeers        = 1 << 16
	maxHeaderAddressBytes = 1 << 16
)

// decodeSnapshotHeader reads the runtime's header (encodeSnapshotHeader or
// encodeImageKeptHeader) from the start of a snapshot's data; the image,
// if the header says one follows, is what r yields next. It reads the
// header only, so a snapshot streamed from its file is never held in
// memory. r's buffer must hold the magic (Peek).
func decodeSnapshotHeader(r *bufio.Reader) (snapshotHeader, error) {
	book, promotions, imageKept, err := decodeHeaderFields(r)
	if err != nil || !imageKept {
		return snapshotHeader{book: book, promotions: promotions}, err
	}
	machineIndex, err := binary.ReadUvarint(r)
	if err != nil {
		return snapshotHeader{}, fmt.Errorf("%w: truncated snapshot header: %v", errBadRecord, err)
	}
	return snapshotHeader{book: book, promotions: promotions, imageKept: true, machineIndex: machineIndex}, nil
}

// decodeHeaderFields reads the fields that every format shares, and says
// whether the header is of the third format.
func decodeHeaderFields(r *bufio.Reader) (book addressBook, promotions map[raft.NodeID]bool, imageKept bool, err error) {
	read := func() (uint64, error) {
		value, err := binary.ReadUvarint(r)
		if err != nil {
			return 0, fmt.Errorf("%w: truncated snapshot header: %v", errBadRecord, err)
		}
		return value, nil
	}
	if r.Size() < len(snapshotMagic) {
		return nil, nil, false, fmt.Errorf("node: a %d-byte buffer cannot hold the snapshot magic", r.Size())
	}
	second := false
	if prefix, err := r.Peek(len(snapshotMagic)); err == nil && (string(prefix) == snapshotMagic || string(prefix) == imageKeptMagic) {
		second, imageKept = true, string(prefix) == imageKeptMagic
		r.Discard(len(snapshotMagic))
	}
	count, err := read()
	if err != nil {
		return nil, nil, false, err
	}
	if count > maxHeaderPeers {
		return nil, nil, false, fmt.Errorf("%w: %d peers in a snapshot header", errBadRecord, count)
	}
	book = addressBook{}
	for i := uint64(0); i < count; i++ {
		id, err := read()
		if err != nil {
			return nil, nil, false, err
		}
		length, err := read()
		if err != nil {
			return nil, nil, false, err
		}
		if length > maxHeaderAddressBytes {
			return nil, nil, false, fmt.Errorf("%w: address of %d bytes in a snapshot header", errBadRecord, length)
		}
		address := make([]byte, length)
		if _, err := io.ReadFull(r, address); err != nil {
			return nil, nil, false, fmt.Errorf("%w: truncated address in a snapshot header: %v", errBadRecord, err)
		}
		book[raft.NodeID(id)] = string(address)
	}
	promotions = map[raft.NodeID]bool{}
	if second {
		pending, err := read()
		if err != nil {
			return nil, nil, false, err
		}
		if pending > maxHeaderPeers {
			return nil, nil, false, fmt.Errorf("%w: %d promotions in a snapshot header", errBadRecord, pending)
		}
		for i := uint64(0); i < pending; i++ {
			id, err := read()
			if err != nil {
				return nil, nil, false, err
			}
			promotions[raft.NodeID(id)] = true
		}
	}
	return book, promotions, imageKept, nil
}
