package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// This file is lockstep's one encoding of a Membership: EntryMembership
// entries, the WAL's compaction and snapshot records, snapshot files and
// the transport's snapshot messages all carry it. Its first byte is the
// format version, so the format can evolve while old logs stay readable.
//
// Format 1, after the version byte: for each of Voters, OutgoingVoters and
// Learners, the number of IDs then each ID, all as minimal unsigned
// varints.

// MembershipFormat is the format version AppendMembership writes. Decoders
// refuse any other.
const MembershipFormat byte = 1

// maxMembers bounds each list in a decoded membership: a corrupt or hostile
// entry cannot make a node allocate without limit.
const maxMembers = 1 << 12

// ErrBadMembership is wrapped by the errors of every membership decoder.
var ErrBadMembership = errors.New("raft: malformed membership")

// EncodeMembership returns the encoding of a whole membership, for an
// EntryMembership entry. Entries carry full configurations, not deltas, so
// a node that joins late learns the membership from the first such entry
// it receives.
func EncodeMembership(m Membership) []byte {
	return AppendMembership(make([]byte, 0, 1+MembershipBodySize(m)), m)
}

// AppendMembership appends the encoding of m (version byte first) to dst
// and returns the extended slice.
func AppendMembership(dst []byte, m Membership) []byte {
	return AppendMembershipBody(append(dst, MembershipFormat), m)
}

// DecodeMembership decodes exactly one encoding made by AppendMembership.
// Any other input yields an error wrapping ErrBadMembership, never a
// panic; what it accepts is canonical (it encodes back to data) and valid
// (no node ID 0, no node in two roles).
func DecodeMembership(data []byte) (Membership, error) {
	if len(data) == 0 {
		return Membership{}, fmt.Errorf("%w: empty", ErrBadMembership)
	}
	if data[0] != MembershipFormat {
		return Membership{}, fmt.Errorf("%w: format version %d, want %d", ErrBadMembership, data[0], MembershipFormat)
	}
	m, size, err := ReadMembershipBody(data[1:])
	if err != nil {
		return Membership{}, err
	}
	if trailing := len(data) - 1 - size; trailing != 0 {
		return Membership{}, fmt.Errorf("%w: %d trailing bytes", ErrBadMembership, trailing)
	}
	return m, nil
}

// AppendMembershipBody appends the encoding of m without its version
// byte, for a container whose own version fixes the membership format (the
// transport's messages: see transport.Version).
func AppendMembershipBody(dst []byte, m Membership) []byte {
	for _, list := range [][]NodeID{m.Voters, m.OutgoingVoters, m.Learners} {
		dst = binary.AppendUvarint(dst, uint64(len(list)))
		for _, id := range list {
			dst = binary.AppendUvarint(dst, uint64(id))
		}
	}
	return dst
}

// MembershipBodySize returns the number of bytes AppendMembershipBody
// appends for m, without allocating.
func MembershipBodySize(m Membership) int {
	size := 0
	for _, list := range [][]NodeID{m.Voters, m.OutgoingVoters, m.Learners} {
		size += uvarintSize(uint64(len(list)))
		for _, id := range list {
			size += uvarintSize(uint64(id))
		}
	}
	return size
}

// ReadMembershipBody decodes the body AppendMembershipBody wrote at the
// start of data, with DecodeMembership's checks, and returns it with the
// number of bytes it took; the bytes after it are the caller's.
func ReadMembershipBody(data []byte) (Membership, int, error) {
	rest := data
	readNumber := func(what string) (uint64, error) {
		value, size := binary.Uvarint(rest)
		if size <= 0 {
			return 0, fmt.Errorf("%w: truncated or overlong %s at byte %d", ErrBadMembership, what, len(data)-len(rest))
		}
		if size > 1 && rest[size-1] == 0 {
			return 0, fmt.Errorf("%w: non-minimal %s at byte %d", ErrBadMembership, what, len(data)-len(rest))
		}
		rest = rest[size:]
		return value, nil
	}
	var lists [3][]NodeID
	for i := range lists {
		count, err := readNumber("list length")
		if err != nil {
			return Membership{}, 0, err
		}
		if count > maxMembers || count > uint64(len(rest)) {
			return Membership{}, 0, fmt.Errorf("%w: list of %d members in %d bytes", ErrBadMembership, count, len(rest))
		}
		for j := uint64(0); j < count; j++ {
			id, err := readNumber("node ID")
			if err != nil {
				return Membership{}, 0, err
			}
			lists[i] = append(lists[i], NodeID(id))
		}
	}
	m, err := checkedMembership(lists)
	if err != nil {
		return Membership{}, 0, err
	}
	return m, len(data) - len(rest), nil
}

// checkedMembership builds a membership from its three decoded lists and
// validates it.
func checkedMembership(lists [3][]NodeID) (Membership, error) {
	m := Membership{Voters: lists[0], OutgoingVoters: lists[1], Learners: lists[2]}
	if err := validateMembership(m); err != nil {
		return Membership{}, fmt.Errorf("%w: %v", ErrBadMembership, err)
	}
	return m, nil
}

// uvarintSize is the length of v's minimal unsigned varint: 7 bits a byte.
func uvarintSize(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }
