package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// Every normal log entry written by the runtime starts with a kind byte:
// the application's commands are wrapped, so that the runtime can replicate
// its own records (peer addresses) through the same log.
const (
	kindCommand     byte = 1
	kindPeerAddress byte = 2
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

// encodeSnapshot wraps the state machine's image with the address book:
// uvarint count, then (uvarint id, uvarint length, address) each, then the
// image.
func encodeSnapshot(book addressBook, image []byte) []byte {
	ids := make([]raft.NodeID, 0, len(book))
	for id := range book {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	buffer := binary.AppendUvarint(nil, uint64(len(ids)))
	for _, id := range ids {
		buffer = binary.AppendUvarint(buffer, uint64(id))
		buffer = binary.AppendUvarint(buffer, uint64(len(book[id])))
		buffer = append(buffer, book[id]...)
	}
	return append(buffer, image...)
}

func decodeSnapshot(data []byte) (addressBook, []byte, error) {
	read := func() (uint64, error) {
		value, size := binary.Uvarint(data)
		if size <= 0 {
			return 0, fmt.Errorf("%w: truncated snapshot header", errBadRecord)
		}
		data = data[size:]
		return value, nil
	}
	count, err := read()
	if err != nil {
		return nil, nil, err
	}
	if count > uint64(len(data)) {
		return nil, nil, fmt.Errorf("%w: %d peers in %d bytes", errBadRecord, count, len(data))
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
		if length > uint64(len(data)) {
			return nil, nil, fmt.Errorf("%w: address of %d bytes in %d", errBadRecord, length, len(data))
		}
		book[raft.NodeID(id)] = string(data[:length])
		data = data[length:]
	}
	return book, data, nil
}
