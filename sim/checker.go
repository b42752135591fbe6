package sim

import (
	"fmt"
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// Violation is a broken safety or liveness property.
type Violation struct {
	Step int
	Time uint64
	// Rule names the property, as the Raft paper does (Figure 3) or as
	// the seed chapter does (validity, integrity, agreement).
	Rule   string
	Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("step %d (t=%d): %s: %s", v.Step, v.Time, v.Rule, v.Detail)
}

// checker verifies Raft's properties (Raft Figure 3) incrementally, after
// every step, from what the nodes output: Readies, applied entries and
// their role, term and commit index.
type checker struct {
	cluster   *cluster
	violation *Violation
	// leaders maps a term to the node that led it: Election Safety.
	leaders map[uint64]raft.NodeID
	// leaderSince maps a node to the term it leads in as of its last
	// Ready, for Leader Append-Only; leaderCommit to its commit index then,
	// for the commit rule.
	leaderSince  map[raft.NodeID]uint64
	leaderCommit map[raft.NodeID]uint64
	// prefixes maps (index, term) to the prefix hash of every log that
	// holds such an entry: Log Matching.
	prefixes map[[2]uint64]uint64
	// committed is the cluster's committed log (terms and prefix hashes):
	// every node's committed prefix must agree with it.
	committed logMirror
	// snapshots maps an index to the hash of the state machine any node
	// captured there: every node must have the same state at an index.
	snapshots map[uint64]uint64
	// commitsByTerm maps a term to the highest index its leader committed:
	// a leader of any later term must hold that prefix (Leader
	// Completeness).
	commitsByTerm map[uint64]uint64
	// applied maps an index to the entry every node applies there: State
	// Machine Safety (agreement).
	applied map[uint64]uint64
	// appliedCount counts applications, for the result.
	appliedCount int
}

func newChecker(c *cluster) checker {
	return checker{
		cluster:       c,
		leaders:       map[uint64]raft.NodeID{},
		leaderSince:   map[raft.NodeID]uint64{},
		leaderCommit:  map[raft.NodeID]uint64{},
		prefixes:      map[[2]uint64]uint64{},
		commitsByTerm: map[uint64]uint64{},
		applied:       map[uint64]uint64{},
		snapshots:     map[uint64]uint64{},
	}
}

func (k *checker) violate(rule, format string, args ...any) {
	if k.violation != nil {
		return // the first violation is the one to explain
	}
	c := k.cluster
	k.violation = &Violation{Step: c.step, Time: c.scheduler.now, Rule: rule, Detail: fmt.Sprintf(format, args...)}
	c.tracef("VIOLATION %s", k.violation)
}

// observe checks a node's role and term after each input.
func (k *checker) observe(n *node) {
	summary := n.core.Summary()
	previous := n.summary
	n.summary = summary
	if summary.Term < previous.Term {
		k.violate("term monotonicity", "node %d went from term %d back to %d", n.id, previous.Term, summary.Term)
	}
	if summary.Role != previous.Role || summary.Term != previous.Term {
		k.cluster.tracef("node %d: %s in term %d", n.id, summary.Role, summary.Term)
		if summary.Role == raft.RolePreCandidate || summary.Role == raft.RoleCandidate {
			k.cluster.maybeIsolateLeader(n)
		}
	}
	if summary.Role == raft.RoleLeader {
		// Election Safety: at most one leader per term (Raft §5.2).
		if other, ok := k.leaders[summary.Term]; ok && other != n.id {
			k.violate("election safety", "nodes %d and %d both lead term %d", other, n.id, summary.Term)
		}
		k.leaders[summary.Term] = n.id
	}
}

// onReady checks a Ready as it leaves the core.
func (k *checker) onReady(n *node, ready raft.Ready) {
	summary := n.core.Summary()
	isLeader := summary.Role == raft.RoleLeader
	if !ready.Snapshot.IsEmpty() {
		if !k.checkSnapshot(n, ready.Snapshot) {
			return
		}
		n.volatile.resetTo(&k.committed, ready.Snapshot.Metadata.Index)
	}
	if len(ready.Entries) > 0 {
		first := ready.Entries[0].Index
		// Leader Append-Only: a leader never overwrites or deletes its own
		// entries (Raft §5.3).
		if isLeader && k.leaderSince[n.id] == summary.Term && first <= n.volatile.lastIndex() {
			k.violate("leader append-only", "leader %d of term %d rewrites its log from index %d (last %d)", n.id, summary.Term, first, n.volatile.lastIndex())
		}
		n.volatile.append(ready.Entries)
		// Log Matching: same index and term means the same prefix.
		for _, entry := range ready.Entries {
			key := [2]uint64{entry.Index, entry.Term}
			hash := n.volatile.prefixHash(entry.Index)
			if known, ok := k.prefixes[key]; !ok {
				k.prefixes[key] = hash
			} else if known != hash {
				k.violate("log matching", "node %d holds entry %d/%d with a different log before it than another node", n.id, entry.Index, entry.Term)
			}
		}
	}
	k.checkTransfers(n, ready)
	commit := summary.Commit
	if commit > n.volatile.lastIndex() {
		k.violate("commit", "node %d commits %d beyond its log's last index %d", n.id, commit, n.volatile.lastIndex())
		return
	}
	k.checkCommittedPrefix(n, commit)
	if isLeader {
		if k.leaderSince[n.id] != summary.Term {
			k.cluster.maybeCrashSoon(n, 0.05)
			k.cluster.maybeCrashBeforeSending(n, 0.05)
		}
		if commit > k.commitsByTerm[summary.Term] {
			k.commitsByTerm[summary.Term] = commit
			k.cluster.maybeCrashSoon(n, 0.02)
			k.cluster.maybeCrashBeforeSending(n, 0.01)
		}
		k.checkLeaderCompleteness(n, summary.Term)
	}
	if isLeader {
		if k.leaderSince[n.id] == summary.Term && commit > k.leaderCommit[n.id] && n.volatile.term(commit) != summary.Term {
			// Raft §5.4.2 (Figure 8): a leader commits only by counting
			// replicas of an entry of its own term. An earlier term's
			// entry counted onto a majority may still be overwritten by
			// a leader of a later term; the consequence takes a rare
			// sequence of three leaders to show, the rule is plain.
			k.violate("commit rule", "leader %d of term %d advances its commit index to %d, an entry of term %d", n.id, summary.Term, commit, n.volatile.term(commit))
		}
		k.leaderSince[n.id] = summary.Term
		k.leaderCommit[n.id] = commit
	} else {
		delete(k.leaderSince, n.id)
	}
}

// checkTransfers checks that a leader hands over (TimeoutNow) only to a
// node whose durable log holds the leader's whole log (thesis §3.10): a
// target that lags cannot win, and the cluster is left without a leader
// for an election timeout. A target already in a later term is exempt: it
// ignores the message.
func (k *checker) checkTransfers(n *node, ready raft.Ready) {
	for _, m := range slices.Concat(ready.SendNow, ready.SendAfterPersist) {
		if m.Type != raft.MessageTimeoutNow {
			continue
		}
		target := k.cluster.node(m.To)
		last := n.volatile.lastIndex()
		if target.summary.Term > m.Term || target.storage.HardState().Term > m.Term {
			continue
		}
		if target.durable.lastIndex() < last || target.durable.prefixHash(last) != n.volatile.prefixHash(last) {
			k.violate("transfer", "leader %d of term %d hands over to node %d, whose durable log (last %d) lacks its log (last %d)", n.id, m.Term, m.To, target.durable.lastIndex(), last)
			return
		}
	}
}

// checkFollowerCommit checks the receiver's side of the commit rule (Raft
// Figure 2, AppendEntries rule 5): an append moves a follower's commit
// index at most to the leader's commit, and no further than the append's
// last entry, the end of what the append verified against the leader's
// log. Entries beyond it may be stale leftovers of an earlier term; they
// would be committed only when a follower holds a long stale suffix behind
// entries that match, which the leader's exact rejection hints make rare,
// so the rule is checked on every append instead.
func (k *checker) checkFollowerCommit(n *node, m raft.Message, before uint64) {
	after := n.core.Summary().Commit
	limit := max(before, min(m.Commit, m.LogIndex+uint64(len(m.Entries))))
	if after > limit {
		k.violate("follower commit", "node %d raises its commit index from %d to %d on an append of [%d, %d] with commit %d",
			n.id, before, after, m.LogIndex+1, m.LogIndex+uint64(len(m.Entries)), m.Commit)
	}
}

// checkLeaderLease checks, as a follower steps a message, the promise
// that leader leases and CheckQuorum rest on (thesis §4.2.3, §6.4.1): a
// follower that heard from its leader less than an election timeout (of
// its own ticks) ago, or restarted less than one ago with lease reads on,
// does not adopt the term of a vote request, unless the request is part
// of a leadership transfer. It also records each contact with a leader.
func (k *checker) checkLeaderLease(n *node, m raft.Message, before raft.Summary) {
	const electionTicks = 10
	c := k.cluster
	after := n.core.Summary()
	switch m.Type {
	case raft.MessageAppend, raft.MessageHeartbeat, raft.MessageSnapshot:
		if after.Term == m.Term && after.Role == raft.RoleFollower {
			n.leaderContact, n.contactTerm = n.ticks, m.Term
		}
	case raft.MessageVote:
		if c.profile.disableQuorumChk || m.Transfer || before.Role != raft.RoleFollower || m.Term <= before.Term {
			return
		}
		heardRecently := n.contactTerm != 0 && n.contactTerm == before.Term && n.ticks-n.leaderContact < electionTicks
		restartedRecently := c.profile.leaseReads && n.ticks < electionTicks
		if (heardRecently || restartedRecently) && after.Term > before.Term {
			k.violate("leader lease", "node %d adopts term %d from node %d's vote request %d ticks after hearing from its leader (restarted %d ticks ago)",
				n.id, after.Term, m.From, n.ticks-n.leaderContact, n.ticks)
		}
	}
}

// checkCommittedPrefix checks that a node's log up to its commit index is
// the committed log every other node has, and extends that log.
func (k *checker) checkCommittedPrefix(n *node, commit uint64) {
	known := k.committed.lastIndex()
	common := min(known, commit)
	if common > 0 && n.volatile.prefixHash(common) != k.committed.prefixHash(common) {
		k.violate("state machine safety", "node %d's committed log up to %d differs from the cluster's committed log", n.id, common)
		return
	}
	for index := known + 1; index <= commit; index++ {
		k.committed.terms = append(k.committed.terms, n.volatile.term(index))
		k.committed.hashes = append(k.committed.hashes, n.volatile.prefixHash(index))
	}
}

// checkSnapshot checks a snapshot as a node installs it: it must capture a
// committed prefix, and its state must equal every other capture at that
// index.
func (k *checker) checkSnapshot(n *node, snapshot raft.Snapshot) bool {
	index := snapshot.Metadata.Index
	if index > k.committed.lastIndex() || k.committed.term(index) != snapshot.Metadata.Term {
		k.violate("snapshot", "node %d receives a snapshot at %d/%d that is not of the committed log", n.id, index, snapshot.Metadata.Term)
		return false
	}
	k.recordState(n, index, snapshot.Data)
	return true
}

// recordState checks that a state machine captured at index equals every
// other capture there (state machine safety on whole states).
func (k *checker) recordState(n *node, index uint64, data []byte) {
	hash := chainHash(0, raft.Entry{Index: index, Data: data})
	if known, ok := k.snapshots[index]; !ok {
		k.snapshots[index] = hash
	} else if known != hash {
		k.violate("state machine safety", "node %d's state at index %d differs from another node's", n.id, index)
	}
}

// checkLeaderCompleteness: a leader of term T holds every entry committed
// in earlier terms (Raft §5.4).
func (k *checker) checkLeaderCompleteness(n *node, term uint64) {
	for committedTerm, index := range k.commitsByTerm {
		if committedTerm >= term || index == 0 {
			continue
		}
		if index > n.volatile.lastIndex() || n.volatile.prefixHash(index) != k.committed.prefixHash(index) {
			k.violate("leader completeness", "leader %d of term %d lacks entry %d committed in term %d", n.id, term, index, committedTerm)
			return
		}
	}
}

// checkReadIndex checks a read's index as it reaches the node that asked:
// a linearizable read must see every entry committed before it began
// (thesis §6.4), so its index is at least the commit index any node had
// reached by then. This catches a stale read at the log level, whether or
// not the client's keys and values would make it visible to porcupine.
func (k *checker) checkReadIndex(n *node, read *pendingRead) {
	if read.index < read.committedAtCall {
		k.violate("read index", "node %d's read issued at t=%d got index %d, but %d was committed by then", n.id, read.call, read.index, read.committedAtCall)
	}
}

// onApply checks an entry as a node applies it.
func (k *checker) onApply(n *node, entry raft.Entry) {
	k.appliedCount++
	// Integrity: each index applied once, in order, with no gap.
	if entry.Index != n.applied+1 {
		k.violate("integrity", "node %d applies index %d after %d", n.id, entry.Index, n.applied)
	}
	// Validity: only proposed commands (or a leader's empty entry, or a
	// configuration entry).
	if entry.Type == raft.EntryNormal && len(entry.Data) > 0 && !k.cluster.workload.proposed[string(entry.Data)] {
		k.violate("validity", "node %d applies %q at %d, which no client proposed", n.id, entry.Data, entry.Index)
	}
	// State Machine Safety / agreement: one entry per index everywhere.
	hash := entryHash(entry)
	if known, ok := k.applied[entry.Index]; !ok {
		k.applied[entry.Index] = hash
	} else if known != hash {
		k.violate("state machine safety", "node %d applies a different entry at index %d than another node did", n.id, entry.Index)
	}
	if entry.Index > n.durable.lastIndex() {
		k.violate("persistence", "node %d applies index %d that is not durable (durable last %d)", n.id, entry.Index, n.durable.lastIndex())
	}
}

// checkAcknowledged verifies at the end that every command a client was
// told committed is applied, at its index, on every node.
func (k *checker) checkAcknowledged() {
	c := k.cluster
	for index, entry := range c.workload.acknowledged {
		if k.applied[index] != entryHash(entry) {
			k.violate("durability", "acknowledged command %s at index %d was replaced by another entry", entry.Data, index)
			return
		}
		for _, n := range c.members() {
			if n.applied < index {
				k.violate("durability", "acknowledged command %s at index %d is not applied on node %d (applied %d)", entry.Data, index, n.id, n.applied)
				return
			}
		}
	}
}
