package raft

import (
	"errors"
	"fmt"
	"slices"
)

// MembershipChangeKind says what a MembershipChange does to one node.
type MembershipChangeKind uint8

const (
	// AddLearner adds a node that receives the log but does not vote. New
	// nodes join this way and are promoted once they have caught up, so
	// that a node with an empty log never weakens the quorum.
	AddLearner MembershipChangeKind = iota + 1
	// AddVoter promotes a learner to voter. The learner must have caught up
	// with the leader's commit index.
	AddVoter
	// RemoveNode removes a voter or a learner.
	RemoveNode
)

// String returns the kind as logs and errors print it: add-learner,
// add-voter or remove.
func (k MembershipChangeKind) String() string {
	switch k {
	case AddLearner:
		return "add-learner"
	case AddVoter:
		return "add-voter"
	case RemoveNode:
		return "remove"
	}
	return fmt.Sprintf("MembershipChangeKind(%d)", uint8(k))
}

// MembershipChange changes one node's part in the cluster.
type MembershipChange struct {
	Kind MembershipChangeKind
	Node NodeID
}

// ErrMembershipChangeInProgress is returned while an earlier change is not
// yet committed (or the joint configuration not yet left): one change at a
// time (thesis §4.1).
var ErrMembershipChangeInProgress = errors.New("raft: a membership change is already in progress")

// ErrInvalidMembershipChange is wrapped by errors for changes that make no
// sense: removing the last voter, promoting an unknown node, ...
var ErrInvalidMembershipChange = errors.New("raft: invalid membership change")

// ErrLearnerBehind is wrapped, together with ErrInvalidMembershipChange,
// by the refusal to promote a learner that does not yet hold every
// committed entry: unlike the other refusals it passes once the learner
// catches up, so a caller may try again (etcd's "learner not ready").
var ErrLearnerBehind = errors.New("raft: learner has not caught up")

// membershipAt is the membership that took effect when the entry at index
// was appended.
type membershipAt struct {
	index      uint64
	membership Membership
}

// ProposeMembershipChange proposes changes to the membership, all taking
// effect together. A change that alters the voters goes through joint
// consensus (thesis §4.3): first C_old,new, in which decisions need a
// majority of both the old and the new voters, then, once that entry is
// committed, the leader appends C_new by itself. A change that only touches
// learners takes effect in one step. Like every configuration entry, it
// takes effect on each node as soon as it is appended to its log, before it
// commits (thesis §4.1). It returns the index and term of the entry; call it
// on the leader, serialised with the core's other methods (see Core), not
// between Ready and Advance.
func (c *Core) ProposeMembershipChange(changes ...MembershipChange) (index, term uint64, err error) {
	c.checkNoReadyOutstanding("ProposeMembershipChange")
	if c.role != RoleLeader {
		return 0, 0, &NotLeaderError{Leader: c.leader, Term: c.term}
	}
	if c.transferTarget != None {
		return 0, 0, ErrTransferInProgress
	}
	if c.membershipChangePending() {
		return 0, 0, ErrMembershipChangeInProgress
	}
	next, err := c.applyMembershipChanges(changes)
	if err != nil {
		return 0, 0, err
	}
	if !slices.Equal(sortedIDs(next.Voters), sortedIDs(c.membership.Voters)) {
		// The voters change: enter the joint configuration first.
		next.OutgoingVoters = slices.Clone(c.membership.Voters)
	}
	return c.appendMembership(next), c.term, nil
}

// membershipChangePending reports whether the latest configuration is not
// yet committed, or is joint.
func (c *Core) membershipChangePending() bool {
	return len(c.membership.OutgoingVoters) > 0 || c.latestMembershipIndex() > c.log.committed
}

func (c *Core) latestMembershipIndex() uint64 {
	if n := len(c.membershipLog); n > 0 {
		return c.membershipLog[n-1].index
	}
	return 0
}

// applyMembershipChanges validates changes against the current (non-joint)
// membership and returns the result.
func (c *Core) applyMembershipChanges(changes []MembershipChange) (Membership, error) {
	if len(changes) == 0 {
		return Membership{}, fmt.Errorf("%w: no changes", ErrInvalidMembershipChange)
	}
	next := c.membership.Clone()
	seen := map[NodeID]bool{}
	for _, change := range changes {
		id := change.Node
		if id == None {
			return Membership{}, fmt.Errorf("%w: node ID 0", ErrInvalidMembershipChange)
		}
		if seen[id] {
			return Membership{}, fmt.Errorf("%w: node %v changed twice in one change", ErrInvalidMembershipChange, id)
		}
		seen[id] = true
		isVoter, isLearner := slices.Contains(next.Voters, id), slices.Contains(next.Learners, id)
		switch change.Kind {
		case AddLearner:
			if isVoter || isLearner {
				return Membership{}, fmt.Errorf("%w: node %v is already a member", ErrInvalidMembershipChange, id)
			}
			next.Learners = append(next.Learners, id)
		case AddVoter:
			if isVoter {
				return Membership{}, fmt.Errorf("%w: node %v is already a voter", ErrInvalidMembershipChange, id)
			}
			if !isLearner {
				return Membership{}, fmt.Errorf("%w: node %v is not a member; add it as a learner first and promote it once caught up", ErrInvalidMembershipChange, id)
			}
			if follower := c.progress[id]; follower == nil || follower.match < c.log.committed {
				match := uint64(0)
				if follower != nil {
					match = follower.match
				}
				return Membership{}, fmt.Errorf("%w: %w: learner %d holds %d of %d committed entries", ErrInvalidMembershipChange, ErrLearnerBehind, id, match, c.log.committed)
			}
			next.Learners = slices.DeleteFunc(next.Learners, func(other NodeID) bool { return other == id })
			next.Voters = append(next.Voters, id)
		case RemoveNode:
			if !isVoter && !isLearner {
				return Membership{}, fmt.Errorf("%w: node %v is not a member", ErrInvalidMembershipChange, id)
			}
			next.Voters = slices.DeleteFunc(next.Voters, func(other NodeID) bool { return other == id })
			next.Learners = slices.DeleteFunc(next.Learners, func(other NodeID) bool { return other == id })
		default:
			return Membership{}, fmt.Errorf("%w: unknown kind %d", ErrInvalidMembershipChange, change.Kind)
		}
	}
	if len(next.Voters) == 0 {
		return Membership{}, fmt.Errorf("%w: the change would remove the last voter", ErrInvalidMembershipChange)
	}
	return next, nil
}

// appendMembership appends a configuration entry on the leader.
func (c *Core) appendMembership(next Membership) uint64 {
	index := c.log.lastIndex() + 1
	entries := []Entry{{Index: index, Term: c.term, Type: EntryMembership, Data: EncodeMembership(next)}}
	c.log.appendLeader(entries)
	c.noteAppended(entries)
	c.broadcastPending = true
	return index
}

// noteAppended keeps the membership in step with the log: a configuration
// takes effect when its entry is appended and is undone if that entry is
// truncated away (thesis §4.1). entries were just written at their indexes,
// replacing everything from the first on.
func (c *Core) noteAppended(entries []Entry) {
	if len(entries) == 0 {
		return
	}
	changed := c.truncateMembershipLog(entries[0].Index)
	for _, entry := range entries {
		if entry.Type != EntryMembership {
			continue
		}
		membership, err := DecodeMembership(entry.Data)
		if err != nil {
			// Entries come from a leader's log, which only the core writes:
			// a bad one means a bug or a corrupt log.
			panic(fmt.Sprintf("raft: membership entry %d: %v", entry.Index, err))
		}
		c.membershipLog = append(c.membershipLog, membershipAt{index: entry.Index, membership: membership})
		changed = true
	}
	if changed {
		c.setMembership(c.membershipAt(^uint64(0)))
	}
}

// truncateMembershipLog forgets configurations at or after index.
func (c *Core) truncateMembershipLog(index uint64) bool {
	keep := len(c.membershipLog)
	for keep > 0 && c.membershipLog[keep-1].index >= index {
		keep--
	}
	changed := keep != len(c.membershipLog)
	c.membershipLog = c.membershipLog[:keep]
	return changed
}

// membershipAt returns the configuration in effect at index.
func (c *Core) membershipAt(index uint64) Membership {
	for i := len(c.membershipLog) - 1; i >= 0; i-- {
		if c.membershipLog[i].index <= index {
			return c.membershipLog[i].membership
		}
	}
	return c.baseMembership
}

// setMembership switches to a configuration, updating the leader's
// progress tracking.
func (c *Core) setMembership(m Membership) {
	c.membership = m.Clone()
	c.memberIDs = nil
	if c.role != RoleLeader {
		return
	}
	members := c.members()
	for _, id := range members {
		if c.progress[id] == nil {
			c.progress[id] = newProgress(c.log.lastIndex()+1, c.config.MaxInflightAppends, c.config.MaxInflightBytes)
		}
	}
	for id := range c.progress {
		if id != c.id && !slices.Contains(members, id) {
			delete(c.progress, id)
		}
	}
}

// afterCommit runs the leader's duties that wait for the commit index:
// leaving a joint configuration once it is committed, and stepping down
// once a configuration without this leader is committed.
func (c *Core) afterCommit() {
	if c.role != RoleLeader || c.latestMembershipIndex() > c.log.committed {
		return
	}
	if len(c.membership.OutgoingVoters) > 0 {
		// C_old,new is committed: append C_new (thesis §4.3).
		next := c.membership.Clone()
		next.OutgoingVoters = nil
		c.appendMembership(next)
		return
	}
	if !slices.Contains(c.membership.Voters, c.id) {
		// Removed: hand over to the most caught-up voter, then step down
		// (thesis §4.2.2).
		c.handOver()
		c.becomeFollower(c.term, None)
	}
}

// SnapshotMetadata returns the metadata of a snapshot of the application's
// state at index, which must be applied: its term and the membership in
// effect there. The runtime calls it when it captures its state machine at
// index, stores the snapshot with this metadata, and then compacts its
// Storage up to index.
func (c *Core) SnapshotMetadata(index uint64) (SnapshotMetadata, error) {
	if index > c.log.applied {
		return SnapshotMetadata{}, fmt.Errorf("raft: snapshot at %d is beyond the applied index %d", index, c.log.applied)
	}
	term, err := c.log.term(index)
	if err != nil {
		return SnapshotMetadata{}, fmt.Errorf("raft: snapshot at %d: %w", index, err)
	}
	return SnapshotMetadata{Index: index, Term: term, Membership: c.membershipAt(index).Clone()}, nil
}

func sortedIDs(ids []NodeID) []NodeID {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	return sorted
}
