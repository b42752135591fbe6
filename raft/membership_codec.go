package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// membershipFormatVersion prefixes every encoded membership, so that the
// format can evolve without misreading old logs.
const membershipFormatVersion = 1

// maxMembers bounds each list in a decoded membership: a corrupt or hostile
// entry cannot make a node allocate without limit.
const maxMembers = 1 << 12

// ErrBadMembership is wrapped by DecodeMembership's errors.
var ErrBadMembership = errors.New("raft: malformed membership entry")

// EncodeMembership encodes a whole membership for an EntryMembership entry.
// Entries carry full configurations, not deltas, so a node that joins late
// learns the membership from the first such entry it receives.
func EncodeMembership(m Membership) []byte {
	buffer := make([]byte, 0, 1+3*binary.MaxVarintLen64*(1+len(m.Voters)+len(m.OutgoingVoters)+len(m.Learners)))
	buffer = append(buffer, membershipFormatVersion)
	for _, list := range [][]NodeID{m.Voters, m.OutgoingVoters, m.Learners} {
		buffer = binary.AppendUvarint(buffer, uint64(len(list)))
		for _, id := range list {
			buffer = binary.AppendUvarint(buffer, uint64(id))
		}
	}
	return buffer
}

// DecodeMembership decodes what EncodeMembership produced. Any other input
// yields an error wrapping ErrBadMembership, never a panic.
func DecodeMembership(data []byte) (Membership, error) {
	if len(data) == 0 {
		return Membership{}, fmt.Errorf("%w: empty", ErrBadMembership)
	}
	if data[0] != membershipFormatVersion {
		return Membership{}, fmt.Errorf("%w: format version %d, want %d", ErrBadMembership, data[0], membershipFormatVersion)
	}
	rest := data[1:]
	readNumber := func(what string) (uint64, error) {
		value, size := binary.Uvarint(rest)
		if size <= 0 {
			return 0, fmt.Errorf("%w: truncated or overlong %s at byte %d", ErrBadMembership, what, len(data)-len(rest))
		}
		rest = rest[size:]
		return value, nil
	}
	var lists [3][]NodeID
	for i := range lists {
		count, err := readNumber("list length")
		if err != nil {
			return Membership{}, err
		}
		if count > maxMembers || count > uint64(len(rest)) {
			return Membership{}, fmt.Errorf("%w: list of %d members in %d bytes", ErrBadMembership, count, len(rest))
		}
		for j := uint64(0); j < count; j++ {
			id, err := readNumber("node ID")
			if err != nil {
				return Membership{}, err
			}
			lists[i] = append(lists[i], NodeID(id))
		}
	}
	if len(rest) != 0 {
		return Membership{}, fmt.Errorf("%w: %d trailing bytes", ErrBadMembership, len(rest))
	}
	m := Membership{Voters: lists[0], OutgoingVoters: lists[1], Learners: lists[2]}
	if err := validateMembership(m); err != nil {
		return Membership{}, fmt.Errorf("%w: %v", ErrBadMembership, err)
	}
	return m, nil
}
