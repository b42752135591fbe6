package raft

import (
	"fmt"
	"slices"
	"strconv"
)

// NodeID names a member of a cluster. Zero is never a valid ID: it means
// "nobody" (no vote cast, no leader known).
type NodeID uint64

// String is the ID in hexadecimal, as etcdctl prints member IDs, so that an
// ID reads the same in logs, errors, lockstep status and etcdctl.
func (id NodeID) String() string { return strconv.FormatUint(uint64(id), 16) }

// None is the zero NodeID: no vote, no known leader.
const None NodeID = 0

// EntryType says how the application should interpret an Entry's Data.
type EntryType uint8

const (
	// EntryNormal carries an application command in Data. A leader also
	// appends an EntryNormal with empty Data when it is elected (Raft §5.4.2,
	// thesis §3.6.2): committing it commits every earlier entry. Propose
	// refuses empty commands (ErrEmptyCommand), so an EntryNormal with
	// empty Data is always such a term-start entry, never a command.
	EntryNormal EntryType = iota
	// EntryMembership carries an encoded membership change (see part 2).
	EntryMembership
)

func (t EntryType) String() string {
	switch t {
	case EntryNormal:
		return "normal"
	case EntryMembership:
		return "membership"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one slot of the replicated log. Index and Term identify it: by the
// Log Matching Property (Raft §5.3), two logs holding an entry with the same
// index and term are identical up to that index.
type Entry struct {
	Index uint64
	Term  uint64
	Type  EntryType
	Data  []byte
}

// Size is the number of bytes an entry counts for against message and
// batch byte limits: its payload plus a fixed overhead for index, term, type.
func (e Entry) Size() uint64 { return uint64(len(e.Data)) + entryOverhead }

// entryOverhead approximates the encoded size of an entry's fixed fields.
const entryOverhead = 24

// HardState is the state a node must persist before it sends any message
// that depends on it (Raft Figure 2, "Persistent state on all servers"):
// the current term and the vote cast in it. Commit is persisted alongside
// for convenience of recovery; losing it is safe (it is relearned).
type HardState struct {
	Term   uint64
	Vote   NodeID
	Commit uint64
}

// IsEmpty reports whether h is the zero HardState.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// Membership is the set of nodes that take part in the cluster. Voters form
// the quorum. During a joint-consensus change (thesis §4.3) OutgoingVoters
// holds the old voter set and decisions need a majority of both. Learners
// receive the log but do not vote.
type Membership struct {
	Voters         []NodeID
	OutgoingVoters []NodeID
	Learners       []NodeID
}

// Clone returns a deep copy of m.
func (m Membership) Clone() Membership {
	return Membership{
		Voters:         slices.Clone(m.Voters),
		OutgoingVoters: slices.Clone(m.OutgoingVoters),
		Learners:       slices.Clone(m.Learners),
	}
}

// SnapshotMetadata identifies the state a snapshot captures: every entry up
// to and including Index (whose term is Term), under Membership.
type SnapshotMetadata struct {
	Index      uint64
	Term       uint64
	Membership Membership
}

// Snapshot is an application state image plus the metadata that places it in
// the log.
type Snapshot struct {
	Metadata SnapshotMetadata
	Data     []byte
}

// IsEmpty reports whether s holds no snapshot.
func (s Snapshot) IsEmpty() bool { return s.Metadata.Index == 0 }
