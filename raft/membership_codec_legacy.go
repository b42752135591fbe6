package raft

import (
	"encoding/binary"
	"fmt"
)

// DecodeLegacyMembership decodes the fixed-width layout in which WAL
// segments and snapshot files of their format 1 (lockstep before they used
// AppendMembership) stored a membership: for each of Voters,
// OutgoingVoters and Learners, a 4-byte count then 8 bytes per ID, little
// endian, with no version byte. Nothing writes it any more; it is read so
// that data directories written then still start. Errors wrap
// ErrBadMembership, as DecodeMembership's do, and it checks the same
// things; it never panics.
func DecodeLegacyMembership(data []byte) (Membership, error) {
	var lists [3][]NodeID
	for i := range lists {
		if len(data) < 4 {
			return Membership{}, fmt.Errorf("%w: cut short", ErrBadMembership)
		}
		count := uint64(binary.LittleEndian.Uint32(data))
		data = data[4:]
		if count > maxMembers || count > uint64(len(data))/8 {
			return Membership{}, fmt.Errorf("%w: list of %d IDs in %d bytes", ErrBadMembership, count, len(data))
		}
		for j := range count {
			lists[i] = append(lists[i], NodeID(binary.LittleEndian.Uint64(data[8*j:])))
		}
		data = data[8*count:]
	}
	if len(data) != 0 {
		return Membership{}, fmt.Errorf("%w: %d trailing bytes", ErrBadMembership, len(data))
	}
	return checkedMembership(lists)
}
