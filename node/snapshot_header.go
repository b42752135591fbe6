package node

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// Every normal log entry written by the runtime starts with a kind byte:
// the application's commands are wrapped, so that the runtime can replicate
// its own records (peer addresses) through the same log.
const (
	kindCommand     byte = 1
	kindPeerAddress byte = 2
	// kindPromotion marks a learner to be made a voter by whichever node
	// leads once the learner has caught up (see AddVoter).
	kindPromotion byte = 3
)

var errBadRecord = errors.New("node: malformed runtime record")

func encodeCommand(command []byte) []byte {
	return append([]byte{kindCommand}, command...)
}

// encodePeerAddress records a peer's address in the log, so that every
// node learns where a new member listens.
func encodePeerAddress(id raft.NodeID, address string) []byte {
	buffer := []byte{kindPeerAddress}
	buffer = binary.AppendUvarint(buffer, uint64(id))
	return append(buffer, address...)
}

func decodePeerAddress(data []byte) (raft.NodeID, string, error) {
	if len(data) < 2 || data[0] != kindPeerAddress {
		return 0, "", fmt.Errorf("%w: not a peer address", errBadRecord)
	}
	id, size := binary.Uvarint(data[1:])
	if size <= 0 || id == 0 {
		return 0, "", fmt.Errorf("%w: bad node ID in peer address", errBadRecord)
	}
	return raft.NodeID(id), string(data[1+size:]), nil
}

// addressBook maps node IDs to peer addresses. It is part of every
// snapshot, so that a node restored from one still knows its peers.
type addressBook map[raft.NodeID]string

// encodePromotion records that learner id is to become a voter.
func encodePromotion(id raft.NodeID) []byte {
	return binary.AppendUvarint([]byte{kindPromotion}, uint64(id))
}

func decodePromotion(data []byte) (raft.NodeID, error) {
	if len(data) < 2 || data[0] != kindPromotion {
		return 0, fmt.Errorf("%w: not a promotion", errBadRecord)
	}
	id, size := binary.Uvarint(data[1:])
	if size <= 0 || id == 0 || 1+size != len(data) {
		return 0, fmt.Errorf("%w: bad node ID in promotion", errBadRecord)
	}
	return raft.NodeID(id), nil
}

// snapshotMagic opens the second snapshot format, which carries pending
// promotions after the address book. A snapshot without it is of the
// first format: the address book, then the image.
const snapshotMagic = "lockstep-snapshot-2\x00"

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
func decodeSnapshot(data []byte) (addressBook, map[raft.NodeID]bool, []byte, error) {
	source := bytes.NewReader(data)
	buffered := bufio.NewReader(source)
	book, promotions, err := decodeSnapshotHeader(buffered)
	if err != nil {
		return nil, nil, nil, err
	}
	consumed := len(data) - source.Len() - buffered.Buffered()
	return book, promotions, data[consumed:], nil
}

// Bounds on a snapshot header, so that a damaged count cannot make the
// decoder allocate without limit before the data runs out.
const (
	maxHeaderPeers        = 1 << 16
	maxHeaderAddressBytes = 1 << 16
)

// decodeSnapshotHeader reads the runtime's header (encodeSnapshotHeader)
// from the start of a snapshot's data; the image is what r yields next.
// It reads the header only, so a snapshot streamed from its file is never
// held in memory. r's buffer must hold the magic (Peek).
func decodeSnapshotHeader(r *bufio.Reader) (addressBook, map[raft.NodeID]bool, error) {
	read := func() (uint64, error) {
		value, err := binary.ReadUvarint(r)
		if err != nil {
			return 0, fmt.Errorf("%w: truncated snapshot header: %v", errBadRecord, err)
		}
		return value, nil
	}
	if r.Size() < len(snapshotMagic) {
		return nil, nil, fmt.Errorf("node: a %d-byte buffer cannot hold the snapshot magic", r.Size())
	}
	second := false
	if prefix, err := r.Peek(len(snapshotMagic)); err == nil && string(prefix) == snapshotMagic {
		second = true
		r.Discard(len(snapshotMagic))
	}
	count, err := read()
	if err != nil {
		return nil, nil, err
	}
	if count > maxHeaderPeers {
		return nil, nil, fmt.Errorf("%w: %d peers in a snapshot header", errBadRecord, count)
	}
	book := addressBook{}
	for i := uint64(0); i < count; i++ {
		id, err := read()
		if err != nil {
			return nil, nil, err
		}
		length, err := read()
		if err != nil {
			return nil, nil, err
		}
		if length > maxHeaderAddressBytes {
			return nil, nil, fmt.Errorf("%w: address of %d bytes in a snapshot header", errBadRecord, length)
		}
		address := make([]byte, length)
		if _, err := io.ReadFull(r, address); err != nil {
			return nil, nil, fmt.Errorf("%w: truncated address in a snapshot header: %v", errBadRecord, err)
		}
		book[raft.NodeID(id)] = string(address)
	}
	promotions := map[raft.NodeID]bool{}
	if second {
		pending, err := read()
		if err != nil {
			return nil, nil, err
		}
		if pending > maxHeaderPeers {
			return nil, nil, fmt.Errorf("%w: %d promotions in a snapshot header", errBadRecord, pending)
		}
		for i := uint64(0); i < pending; i++ {
			id, err := read()
			if err != nil {
				return nil, nil, err
			}
			promotions[raft.NodeID(id)] = true
		}
	}
	return book, promotions, nil
}
