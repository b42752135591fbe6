package playground

import (
	"fmt"

	"github.com/lockstepdb/lockstep/raft"
)

// State is what the page draws at one step (JSON).
type State struct {
	Scenario string         `json:"scenario"`
	Seed     uint64         `json:"seed"`
	Step     int            `json:"step"`
	Time     uint64         `json:"time"`
	Finished bool           `json:"finished"`
	Nodes    []NodeState    `json:"nodes"`
	Messages []MessageState `json:"messages"`
	Captions []Caption      `json:"captions"`
	Links    []LinkState    `json:"cut"`
	Stage    int            `json:"stage"`
	Stages   int            `json:"stages"`
	Actions  []Action       `json:"actions,omitempty"`
}

// NodeState is one node as drawn.
type NodeState struct {
	ID      uint64       `json:"id"`
	Name    string       `json:"name"`
	Down    bool         `json:"down"`
	Frozen  bool         `json:"frozen"`
	Role    string       `json:"role"`
	Term    uint64       `json:"term"`
	Vote    uint64       `json:"vote"`
	Leader  uint64       `json:"leader"`
	Commit  uint64       `json:"commit"`
	Applied uint64       `json:"applied"`
	Member  string       `json:"member"` // voter, learner, joint, or outside
	Log     []EntryState `json:"log"`
}

// EntryState is one log entry.
type EntryState struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	Label string `json:"label"`
}

// MessageState is a message in flight.
type MessageState struct {
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Type   string `json:"type"`
	Label  string `json:"label"`
	Sent   uint64 `json:"sent"`
	Arrive uint64 `json:"arrive"`
	Reject bool   `json:"reject"`
}

// LinkState is a cut link.
type LinkState struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// State returns the run as the page draws it now.
func (s *Simulation) State() State {
	state := State{
		Scenario: s.scenario.Name, Seed: s.seed, Step: s.steps, Time: s.now, Finished: s.finished,
		Captions: s.captions, Stage: s.stage, Stages: len(s.scenario.Stages),
	}
	for _, n := range s.nodes {
		status := n.core.Status()
		node := NodeState{
			ID: uint64(n.id), Name: name(n.id), Down: n.down, Frozen: n.frozen, Role: status.Role.String(),
			Term: status.Term, Vote: uint64(status.Vote), Leader: uint64(status.Leader), Commit: status.Commit,
			Member: memberKind(n.core.Membership(), n.id),
		}
		if len(n.applied) > 0 {
			node.Applied = n.applied[len(n.applied)-1].Index
		}
		if n.down {
			// What survives a crash: the term, vote and commit on disk.
			hard := n.storage.HardState()
			node.Role, node.Term, node.Vote, node.Leader, node.Commit = "down", hard.Term, uint64(hard.Vote), 0, hard.Commit
		}
		first, _ := n.storage.FirstIndex()
		last, _ := n.storage.LastIndex()
		entries, _ := n.storage.Entries(first, last+1, 1<<30)
		for _, entry := range entries {
			node.Log = append(node.Log, EntryState{Index: entry.Index, Term: entry.Term, Label: entryLabel(entry)})
		}
		state.Nodes = append(state.Nodes, node)
	}
	for _, f := range s.flights {
		m := f.message
		state.Messages = append(state.Messages, MessageState{
			From: uint64(m.From), To: uint64(m.To), Type: m.Type.String(), Label: messageLabel(m),
			Sent: f.sent, Arrive: f.arrive, Reject: m.Reject,
		})
	}
	for from, tos := range s.cut {
		for to := range tos {
			state.Links = append(state.Links, LinkState{From: uint64(from), To: uint64(to)})
		}
	}
	return state
}

func memberKind(m raft.Membership, id raft.NodeID) string {
	in := func(list []raft.NodeID) bool {
		for _, x := range list {
			if x == id {
				return true
			}
		}
		return false
	}
	switch {
	case len(m.OutgoingVoters) > 0 && (in(m.Voters) || in(m.OutgoingVoters)):
		return "joint"
	case in(m.Voters):
		return "voter"
	case in(m.Learners):
		return "learner"
	}
	return "outside"
}

func entryLabel(entry raft.Entry) string {
	switch {
	case entry.Type != raft.EntryNormal:
		return "cfg"
	case len(entry.Data) == 0:
		return "·"
	}
	return string(entry.Data)
}

// messageLabel is the short text drawn next to a message.
func messageLabel(m raft.Message) string {
	switch m.Type {
	case raft.MessageAppend:
		if len(m.Entries) == 0 {
			return fmt.Sprintf("append t%d (no entries)", m.Term)
		}
		return fmt.Sprintf("append t%d %d..%d", m.Term, m.Entries[0].Index, m.Entries[len(m.Entries)-1].Index)
	case raft.MessageAppendResponse:
		if m.Reject {
			return fmt.Sprintf("append rejected t%d", m.Term)
		}
		return fmt.Sprintf("ok t%d up to %d", m.Term, m.Index)
	case raft.MessageVoteResponse, raft.MessagePreVoteResponse:
		if m.Reject {
			return m.Type.String() + " no"
		}
		return m.Type.String() + " yes"
	}
	return fmt.Sprintf("%s t%d", m.Type, m.Term)
}
