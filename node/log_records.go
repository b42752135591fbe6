package node

import (
	"encoding/binary"
	"errors"
	"fmt"

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
