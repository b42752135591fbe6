package playground

import (
	"fmt"
	"strings"

	"github.com/lockstepdb/lockstep/raft"
)

// Crash stops node id: its volatile state is lost, its storage (the disk)
// is kept. Messages to it are lost while it is down.
func (s *Simulation) Crash(id raft.NodeID) {
	if n := s.node(id); !n.down {
		n.down = true
	}
}

// Restart brings node id back from its storage.
func (s *Simulation) Restart(id raft.NodeID) {
	n := s.node(id)
	if !n.down {
		return
	}
	n.down = false
	n.nextTick = s.now + 1 + s.random.Uint64N(tickUnits)
	// Bootstrap voters: what a fresh member would be configured with; a
	// restarted core takes its membership from its log instead.
	var voters []raft.NodeID
	for i := 1; i <= s.scenario.Voters; i++ {
		voters = append(voters, raft.NodeID(i))
	}
	_ = s.boot(n, voters) // the configuration was valid at the start
}

// Isolate cuts node id off from every other node, both ways.
func (s *Simulation) Isolate(id raft.NodeID) {
	for _, other := range s.nodes {
		if other.id != id {
			s.cutLink(id, other.id)
			s.cutLink(other.id, id)
		}
	}
}

func (s *Simulation) cutLink(from, to raft.NodeID) {
	if s.cut[from] == nil {
		s.cut[from] = map[raft.NodeID]bool{}
	}
	s.cut[from][to] = true
}

// Heal restores every link.
func (s *Simulation) Heal() { s.cut = map[raft.NodeID]map[raft.NodeID]bool{} }

// Propose submits a client request to node id, labelled with a fresh
// name; it reports the label and the index it got (0 if refused: not the
// leader, or down).
func (s *Simulation) Propose(id raft.NodeID) (string, uint64) {
	n := s.node(id)
	if n.down {
		return "", 0
	}
	s.proposals++
	label := fmt.Sprintf("%c=%d", 'x'+rune((s.proposals-1)%3), s.proposals)
	index, _, err := n.core.Propose([]byte(label))
	if err != nil {
		return label, 0
	}
	return label, index
}

// Leader returns the running node that leads in the highest term, or
// raft.None.
func (s *Simulation) Leader() raft.NodeID {
	var leader raft.NodeID
	var term uint64
	for _, n := range s.nodes {
		if status := n.core.Status(); !n.down && status.Role == raft.RoleLeader && status.Term >= term {
			leader, term = n.id, status.Term
		}
	}
	return leader
}

// OnlyClock stops every clock but node id's, so that it is the one to time
// out; raft.None restarts them all.
func (s *Simulation) OnlyClock(id raft.NodeID) {
	for _, n := range s.nodes {
		n.frozen = id != raft.None && n.id != id
		if !n.frozen && n.nextTick < s.now {
			n.nextTick = s.now + 1
		}
	}
}

// caughtUp reports whether every running node holds the leader's whole
// log and knows it committed.
func (s *Simulation) caughtUp() bool {
	leader := s.Leader()
	if leader == raft.None {
		return false
	}
	status := s.node(leader).core.Status()
	if status.Commit != status.LastIndex {
		return false
	}
	for _, n := range s.nodes {
		if n.down || n.spare && len(n.core.Membership().Learners)+len(n.core.Membership().Voters) == 0 {
			continue
		}
		other := n.core.Status()
		if other.LastIndex != status.LastIndex || other.Commit != status.Commit {
			return false
		}
	}
	return true
}

// term returns the term of node id's entry at index, or 0.
func (s *Simulation) term(id raft.NodeID, index uint64) uint64 {
	term, err := s.node(id).storage.Term(index)
	if err != nil {
		return 0
	}
	return term
}

// name is how the page names a node.
func name(id raft.NodeID) string { return fmt.Sprintf("S%d", id) }

// expand replaces {key} with the node named by memo[key], and {key#} with
// its number.
func (s *Simulation) expand(text string) string {
	for key, value := range s.memo {
		text = strings.ReplaceAll(text, "{"+key+"}", name(raft.NodeID(value)))
		text = strings.ReplaceAll(text, "{"+key+"#}", fmt.Sprint(value))
	}
	return text
}
