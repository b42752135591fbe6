package raft

import "fmt"

// MessageType names the kind of a Message exchanged between nodes.
type MessageType uint8

const (
	// MessageAppend is the AppendEntries RPC (Raft §5.3): LogIndex and
	// LogTerm identify the entry preceding Entries; Commit is the leader's
	// commit index.
	MessageAppend MessageType = iota + 1
	// MessageAppendResponse answers MessageAppend. On success Index is the
	// last index the follower now durably holds in agreement with the
	// leader. On rejection Index echoes the rejected LogIndex and
	// HintIndex/HintTerm say where the follower's log might match.
	MessageAppendResponse
	// MessageVote is the RequestVote RPC (Raft §5.2, §5.4.1): LogIndex and
	// LogTerm are the candidate's last entry.
	MessageVote
	// MessageVoteResponse answers MessageVote; Reject false is a grant.
	MessageVoteResponse
	// MessagePreVote asks whether the recipient would vote for the sender
	// in the next term, without anyone changing term (thesis §9.6). Term is
	// the term the sender would campaign in.
	MessagePreVote
	// MessagePreVoteResponse answers MessagePreVote.
	MessagePreVoteResponse
	// MessageHeartbeat asserts leadership and carries a commit index that
	// the recipient is known to hold (min of its match index and the
	// leader's commit).
	MessageHeartbeat
	// MessageHeartbeatResponse answers MessageHeartbeat, echoing its
	// Context (so that a leader can confirm pending reads).
	MessageHeartbeatResponse
	// MessageSnapshot is InstallSnapshot (Raft §7): the leader sends its
	// latest snapshot to a follower whose next entry it has compacted.
	MessageSnapshot
	// MessageReadIndex asks the leader, on behalf of a follower, for an
	// index at which a linearizable read may be served (thesis §6.4).
	MessageReadIndex
	// MessageReadIndexResponse answers MessageReadIndex with the index in
	// Index and the request's Context.
	MessageReadIndexResponse
	// MessageTimeoutNow tells the target of a leadership transfer to start
	// an election at once (thesis §3.10). Index holds the leader's tick
	// when it sent it: the target ignores one older than the latest plain
	// heartbeat it echoed (0: obeyed, as from a sender that does not stamp
	// it).
	MessageTimeoutNow
)

var messageTypeNames = map[MessageType]string{
	MessageAppend:            "Append",
	MessageAppendResponse:    "AppendResponse",
	MessageVote:              "Vote",
	MessageVoteResponse:      "VoteResponse",
	MessagePreVote:           "PreVote",
	MessagePreVoteResponse:   "PreVoteResponse",
	MessageHeartbeat:         "Heartbeat",
	MessageHeartbeatResponse: "HeartbeatResponse",
	MessageSnapshot:          "Snapshot",
	MessageReadIndex:         "ReadIndex",
	MessageReadIndexResponse: "ReadIndexResponse",
	MessageTimeoutNow:        "TimeoutNow",
}

func (t MessageType) String() string {
	if name, ok := messageTypeNames[t]; ok {
		return name
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Message is what nodes exchange. Which fields are meaningful depends on
// Type; see the MessageType constants.
type Message struct {
	Type MessageType
	// Reject is true when a response refuses the request.
	Reject bool
	// Transfer marks a MessageVote sent because the leader handed over
	// leadership (voters then answer even within a leader's lease), and a
	// leader's appends and heartbeats while it hands over.
	Transfer bool
	From     NodeID
	To       NodeID
	// Term is the sender's current term (for MessagePreVote, the term it
	// would campaign in). Terms are fencing tokens: every node compares it
	// with its own before anything else (Raft §5.1).
	Term uint64
	// LogIndex and LogTerm: for appends, the entry preceding Entries; for
	// votes, the candidate's last entry.
	LogIndex uint64
	LogTerm  uint64
	Entries  []Entry
	// Commit is the sender's commit index (appends and heartbeats).
	Commit uint64
	// Index is the match index in a successful append response, and the
	// rejected LogIndex in a failed one; in a heartbeat and its response,
	// and in a TimeoutNow, the leader's tick (its clock for leases).
	Index uint64
	// HintIndex and HintTerm, in a rejected append response, name the
	// follower's last entry that could match the leader's log: the largest
	// index at or below the rejected one whose term is at most the
	// rejected LogTerm. The leader skips every index in between, so a
	// divergent follower is repaired in about one round trip per term.
	HintIndex uint64
	HintTerm  uint64
	// Snapshot is the snapshot of a MessageSnapshot.
	Snapshot *Snapshot
	// Context identifies a read request in MessageReadIndex, its response,
	// and the heartbeats that confirm it.
	Context []byte
}

func (m Message) String() string {
	s := fmt.Sprintf("%s %v->%v term=%d", m.Type, m.From, m.To, m.Term)
	switch m.Type {
	case MessageAppend:
		s += fmt.Sprintf(" prev=%d/%d entries=%d commit=%d", m.LogIndex, m.LogTerm, len(m.Entries), m.Commit)
		if len(m.Entries) > 0 {
			s += fmt.Sprintf(" [%d..%d]", m.Entries[0].Index, m.Entries[len(m.Entries)-1].Index)
		}
	case MessageAppendResponse:
		if m.Reject {
			s += fmt.Sprintf(" reject index=%d hint=%d/%d", m.Index, m.HintIndex, m.HintTerm)
		} else {
			s += fmt.Sprintf(" match=%d", m.Index)
		}
	case MessageVote, MessagePreVote:
		s += fmt.Sprintf(" last=%d/%d", m.LogIndex, m.LogTerm)
	case MessageVoteResponse, MessagePreVoteResponse:
		if m.Reject {
			s += " reject"
		} else {
			s += " grant"
		}
	case MessageHeartbeat:
		s += fmt.Sprintf(" commit=%d", m.Commit)
	case MessageSnapshot:
		if m.Snapshot != nil {
			s += fmt.Sprintf(" snapshot=%d/%d", m.Snapshot.Metadata.Index, m.Snapshot.Metadata.Term)
		}
	case MessageReadIndexResponse:
		s += fmt.Sprintf(" index=%d", m.Index)
	}
	if len(m.Context) > 0 {
		s += fmt.Sprintf(" context=%q", m.Context)
	}
	if m.Transfer {
		s += " transfer"
	}
	return s
}
