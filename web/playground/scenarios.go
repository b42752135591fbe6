package playground

import (
	"slices"

	"github.com/lockstepdb/lockstep/raft"
)

// Scenario is a scripted run: a cluster and stages that fire, in order,
// each once its condition holds.
type Scenario struct {
	Name    string `json:"name"`
	Title   string `json:"title"`
	Explain string `json:"explain"`
	// Voters bootstrap the cluster; Spares start outside it.
	Voters int `json:"voters"`
	Spares int `json:"spares"`
	// Free lets the user act (crash, partition, propose) at any step.
	Free      bool               `json:"free"`
	Configure func(*raft.Config) `json:"-"`
	Stages    []Stage            `json:"-"`
	// Settle is how long the run continues after the last stage, in time
	// units (0: 400, enough for a few heartbeats).
	Settle uint64 `json:"-"`
}

func (s *Scenario) settle() uint64 {
	if s.Free {
		return 1 << 62 // free mode runs until the user stops
	}
	if s.Settle == 0 {
		return 400
	}
	return s.Settle
}

// Stage is one scripted moment: when When holds (nil: at once), Do acts
// and Say is shown ({key} names the node memo[key]).
type Stage struct {
	When func(*Simulation) bool
	Do   func(*Simulation)
	Say  string
}

// Scenarios lists the playground's scenarios, in the order shown.
func Scenarios() []*Scenario { return scenarios }

// FindScenario returns the named scenario, or nil.
func FindScenario(name string) *Scenario {
	for _, scenario := range scenarios {
		if scenario.Name == name {
			return scenario
		}
	}
	return nil
}

// hasLeader waits for a leader whose log every running member holds, and
// remembers it as {L}.
func hasLeader(s *Simulation) bool {
	if !s.caughtUp() {
		return false
	}
	s.memo["L"] = uint64(s.Leader())
	return true
}

// others remembers the two nodes other than the leader (of three) as {F}
// and {C}.
func others(s *Simulation) {
	for _, n := range s.nodes {
		if uint64(n.id) == s.memo["L"] {
			continue
		}
		if s.memo["F"] == 0 {
			s.memo["F"] = uint64(n.id)
		} else if s.memo["C"] == 0 {
			s.memo["C"] = uint64(n.id)
		}
	}
}

// newLeader waits for a leader other than {L}, and remembers it as {N}.
func newLeader(s *Simulation) bool {
	leader := s.Leader()
	s.memo["N"] = uint64(leader)
	return leader != raft.None && leader != memoNode(s, "L")
}

func memoNode(s *Simulation, key string) raft.NodeID { return raft.NodeID(s.memo[key]) }

// committedEverywhere: every running node holds the same log, committed
// to its end.
func committedEverywhere(s *Simulation) bool {
	if !s.caughtUp() {
		return false
	}
	var reference []raft.Entry
	for _, n := range s.nodes {
		if n.down {
			continue
		}
		first, _ := n.storage.FirstIndex()
		last, _ := n.storage.LastIndex()
		entries, _ := n.storage.Entries(first, last+1, 1<<30)
		if reference == nil {
			reference = entries
		} else if !slices.EqualFunc(entries, reference, func(a, b raft.Entry) bool { return a.Index == b.Index && a.Term == b.Term }) {
			return false
		}
	}
	return true
}

func paperRaft(c *raft.Config) { c.DisablePreVote, c.DisableCheckQuorum = true, true }

var scenarios = []*Scenario{
	{
		Name: "election", Title: "A normal election", Voters: 3,
		Explain: "Every node starts as a follower with a randomized election timeout. The first to time out asks the others " +
			"whether they would vote for it (PreVote), then becomes a candidate in a new term, votes for itself and asks for votes. " +
			"A majority makes it leader; it appends an empty entry of its term and sends heartbeats so nobody else times out.",
		Stages: []Stage{{When: hasLeader, Say: "{L} won the election: a majority voted for it, and its empty entry is committed on every node."}},
	},
	{
		Name: "replication", Title: "Log replication: from a client request to commit", Voters: 3,
		Explain: "A client sends a command to the leader. The leader appends it to its log and sends it to the followers in " +
			"AppendEntries messages. Once a majority (itself and one follower) stores it, the entry is committed: the leader " +
			"applies it and tells the followers the new commit index with its next message.",
		Stages: []Stage{
			{When: hasLeader, Say: "{L} leads. A client sends x=1 to {L}."},
			{Do: func(s *Simulation) { _, index := s.Propose(memoNode(s, "L")); s.memo["index"] = uint64(max(index, 1)) }},
			{When: func(s *Simulation) bool { return s.node(memoNode(s, "L")).core.Status().Commit >= s.memo["index"] },
				Say: "A majority stores the entry: {L} commits it and answers the client."},
			{When: committedEverywhere, Say: "The followers learn the commit index from the next message and apply the entry too."},
		},
	},
	{
		Name: "leader-only-lost", Title: "An entry only on the leader is lost when the leader crashes", Voters: 3,
		Explain: "The leader is cut off and appends a client's entry that nobody else receives. It crashes. The others elect a " +
			"new leader, which never saw the entry, and move on. When the old leader returns, its entry conflicts with the new " +
			"leader's log and is overwritten. This is allowed: the entry was never committed, so no client was told it succeeded.",
		Stages: []Stage{
			{When: hasLeader, Do: func(s *Simulation) { s.Isolate(memoNode(s, "L")) }, Say: "{L} leads. The network cuts {L} off."},
			{Do: func(s *Simulation) { s.Propose(memoNode(s, "L")) }, Say: "A client sends x=1 to {L}: only {L} stores it."},
			{When: func(s *Simulation) bool { return s.now >= s.doneAt+30 }, Do: func(s *Simulation) { s.Crash(memoNode(s, "L")); s.Heal() },
				Say: "{L} crashes before anyone else has the entry. The network heals."},
			{When: newLeader,
				Do: func(s *Simulation) { s.Propose(memoNode(s, "N")) }, Say: "{N} wins a new term and takes a new request, y=2."},
			{When: func(s *Simulation) bool { return s.caughtUp() }, Do: func(s *Simulation) { s.Restart(memoNode(s, "L")) },
				Say: "{L} restarts with x=1 still in its log."},
			{When: committedEverywhere, Say: "{N} overwrote {L}'s uncommitted x=1 with its own log: every node holds the same entries."},
		},
	},
	{
		Name: "quorum-survives", Title: "An entry on a quorum survives the leader's crash before commit", Voters: 3,
		Explain: "The leader sends a client's entry to one follower only, and the follower's acknowledgement is lost, so the leader " +
			"never learns the entry is on a majority and never commits it. Then the leader crashes. The other follower cannot win: " +
			"its log is behind, and the follower holding the entry refuses to vote for it. The follower with the entry wins, and " +
			"since the entry is on a majority it commits it (with an entry of its own term).",
		Stages: []Stage{
			{When: hasLeader, Do: func(s *Simulation) {
				others(s)
				leader, follower, other := memoNode(s, "L"), memoNode(s, "F"), memoNode(s, "C")
				s.drop = func(m raft.Message) bool {
					return (m.From == leader && m.To == other && m.Type == raft.MessageAppend) ||
						(m.From == follower && m.To == leader && m.Type == raft.MessageAppendResponse)
				}
				_, index := s.Propose(leader)
				s.memo["index"] = index
			}, Say: "{L} leads. A client sends x=1; {L} sends it to {F} only, and {F}'s answer will be lost."},
			{When: func(s *Simulation) bool { return s.memo["index"] > 0 && s.term(memoNode(s, "F"), s.memo["index"]) > 0 },
				Do:  func(s *Simulation) { s.Crash(memoNode(s, "L")); s.drop = nil },
				Say: "{F} stored x=1: it is on a majority ({L} and {F}) but {L} has not committed it. {L} crashes."},
			{When: func(s *Simulation) bool { return s.Leader() != raft.None }, Do: func(s *Simulation) { s.memo["N"] = uint64(s.Leader()) },
				Say: "{N} won: only a node holding x=1 can get a majority of votes."},
			{When: func(s *Simulation) bool { return s.node(memoNode(s, "N")).core.Status().Commit >= s.memo["index"] },
				Do: func(s *Simulation) { s.Restart(memoNode(s, "L")) }, Say: "{N} committed x=1 along with its own term's entry. {L} restarts."},
			{When: committedEverywhere, Say: "Every node holds x=1, committed: an entry stored on a quorum survives."},
		},
	},
	figure8,
	{
		Name: "partitioned-leader", Title: "A partitioned old leader", Voters: 3,
		Explain: "The leader is cut off from the others. It still believes it leads and accepts a request, but can never " +
			"commit it. The others elect a new leader in a higher term and commit new requests. With CheckQuorum the old leader " +
			"notices it has not heard from a majority for an election timeout and steps down. When the network heals, its " +
			"uncommitted entry is replaced by the new leader's log.",
		Stages: []Stage{
			{When: hasLeader, Do: func(s *Simulation) { s.Isolate(memoNode(s, "L")); s.Propose(memoNode(s, "L")) },
				Say: "{L} leads. The network cuts it off; a client sends x=1 to it, which it cannot commit."},
			{When: newLeader,
				Do: func(s *Simulation) { s.Propose(memoNode(s, "N")) }, Say: "The others elect {N} in a higher term; a client sends y=2 to {N}."},
			{When: func(s *Simulation) bool { return s.node(memoNode(s, "L")).core.Status().Role != raft.RoleLeader },
				Say: "CheckQuorum: {L} has not heard from a majority for an election timeout and steps down."},
			{When: func(s *Simulation) bool {
				return s.node(memoNode(s, "N")).core.Status().Commit == s.node(memoNode(s, "N")).core.Status().LastIndex
			},
				Do: func(s *Simulation) { s.Heal() }, Say: "The network heals."},
			{When: committedEverywhere, Say: "{L} learned the higher term, and its uncommitted x=1 was replaced by {N}'s log."},
		},
	},
	preVote(true), preVote(false),
	{
		Name: "joint-consensus", Title: "Membership change by joint consensus", Voters: 3, Spares: 1,
		Explain: "A fourth node joins. First it is added as a learner: it receives the log but does not vote, so an empty node " +
			"never weakens the quorum. Once it has caught up, it is promoted. The voters change through a joint configuration " +
			"C(old,new) in which decisions need a majority of the old voters and of the new ones; once C(old,new) commits, the " +
			"leader appends C(new), and the change is complete when that commits.",
		Stages: []Stage{
			{When: hasLeader, Do: func(s *Simulation) {
				s.node(memoNode(s, "L")).core.ProposeMembershipChange(raft.MembershipChange{Kind: raft.AddLearner, Node: 4})
			}, Say: "{L} leads. It proposes: add S4 as a learner."},
			{When: func(s *Simulation) bool {
				// The leader accepts the promotion once S4 has caught up
				// and the learner entry is committed; it refuses earlier.
				leader := s.Leader()
				if leader == raft.None || s.node(4).core.Status().LastIndex < s.node(leader).core.Status().Commit {
					return false
				}
				_, _, err := s.node(leader).core.ProposeMembershipChange(raft.MembershipChange{Kind: raft.AddVoter, Node: 4})
				return err == nil
			}, Say: "S4 caught up. The leader proposes to promote it: the joint configuration C(old,new) is appended."},
			{When: func(s *Simulation) bool {
				leader := s.Leader()
				if leader == raft.None {
					return false
				}
				membership := s.node(leader).core.Membership()
				return len(membership.Voters) == 4 && len(membership.OutgoingVoters) == 0 && committedEverywhere(s)
			}, Say: "C(old,new) committed; the leader appended C(new), which committed too: four voters."},
		},
	},
	{
		Name: "free", Title: "Free mode", Voters: 3, Free: true,
		Explain: "Crash and restart nodes, cut them off and heal the network, and send client requests, and watch what " +
			"Raft does. Every action is recorded in the link, so the run can be shared and replayed.",
	},
}

// preVote builds the rejoining-follower scenario, with or without PreVote.
func preVote(on bool) *Scenario {
	scenario := &Scenario{
		Name: "prevote", Title: "PreVote keeps a rejoining node from disrupting the cluster", Voters: 3,
		Explain: "A follower is cut off. Its election timer keeps firing, but with PreVote it first asks whether anyone would " +
			"vote for it; nobody answers, so it never raises its term. When it rejoins, the leader stays in office. " +
			"(Compare with the next scenario, without PreVote.)",
	}
	after := "The follower rejoins: its term is unchanged and {L} still leads."
	if !on {
		scenario.Name, scenario.Title = "no-prevote", "Without PreVote: the rejoining node disrupts the cluster"
		scenario.Explain = "The same partition without PreVote (and without CheckQuorum): the cut-off follower becomes a " +
			"candidate again and again, raising its term each time. When it rejoins, its higher term forces the leader to " +
			"step down, and the cluster holds an election it did not need."
		scenario.Configure = paperRaft
		after = "The follower rejoins with a higher term: {L} steps down and a new election follows."
	}
	scenario.Stages = []Stage{
		{When: hasLeader, Do: func(s *Simulation) { others(s); s.Isolate(memoNode(s, "F")) }, Say: "{L} leads. The network cuts {F} off."},
		{When: func(s *Simulation) bool { return s.now >= s.doneAt+5*electionTicks*tickUnits }, Do: func(s *Simulation) { s.Heal() },
			Say: "Five election timeouts later the network heals."},
		{When: func(s *Simulation) bool { return s.now >= s.doneAt+electionTicks*tickUnits && s.caughtUp() }, Say: after},
	}
	return scenario
}

// figure8 is Raft's Figure 8 (Ongaro and Ousterhout, §5.4.2), on five
// nodes with the paper's Raft (no PreVote, no CheckQuorum) and one entry
// per message, so entries travel apart as in the figure.
var figure8 = &Scenario{
	Name: "figure-8", Title: "Raft's Figure 8: why a leader counts replicas only for its own term", Voters: 5,
	Configure: func(c *raft.Config) { paperRaft(c); c.MaxAppendBytes = 1 },
	Explain: "An entry from an earlier term can be stored on a majority and still be overwritten, so a leader must not " +
		"commit it by counting replicas. (a) S1 leads and replicates x=1 at index 2 to S2 only. (b) S1 crashes; S5 wins with " +
		"votes from S3 and S4 and appends its own entry at index 2, then crashes. (c) S1 returns, wins a later term and copies " +
		"x=1 to S3: it is now on a majority, but S1 must not commit it. (d) S1 crashes; S5, whose last entry has a newer term, " +
		"wins and overwrites index 2 everywhere. Had S1 committed x=1, a committed entry would have been lost.",
	Stages: []Stage{
		{Do: func(s *Simulation) { s.OnlyClock(1) }, Say: "(a) Only S1's clock runs, so S1 times out first."},
		{When: func(s *Simulation) bool { return s.Leader() == 1 && s.caughtUp() }, Do: func(s *Simulation) {
			s.OnlyClock(raft.None)
			s.drop = func(m raft.Message) bool { return m.From == 1 && m.To != 2 && m.Type == raft.MessageAppend }
			s.Propose(1)
		}, Say: "S1 leads; a client sends x=1, which reaches S2 only."},
		{When: func(s *Simulation) bool { return s.term(2, 2) > 0 }, Do: func(s *Simulation) {
			s.Crash(1)
			s.OnlyClock(5)
			s.drop = func(m raft.Message) bool { return m.From == 5 && m.Type == raft.MessageAppend }
		}, Say: "(b) S1 crashes. S5's clock runs first."},
		{When: func(s *Simulation) bool { return s.Leader() == 5 && s.node(5).core.Status().LastIndex >= 2 }, Do: func(s *Simulation) {
			s.Crash(5)
			s.drop = nil
			s.Restart(1)
			s.OnlyClock(1)
			s.rewrite = func(m raft.Message) raft.Message {
				if m.From == 1 && m.Type == raft.MessageAppend && (m.To == 3 || m.To == 4) {
					m.Entries = slices.DeleteFunc(slices.Clone(m.Entries), func(e raft.Entry) bool { return e.Index > 2 })
				}
				return m
			}
		}, Say: "S5 won with votes from S3 and S4 and appended an entry of its term at index 2, which reached nobody. S5 crashes; (c) S1 restarts and times out first."},
		{When: func(s *Simulation) bool {
			holders := 0
			for id := raft.NodeID(1); id <= 5; id++ {
				if s.term(id, 2) == s.term(2, 2) && s.term(2, 2) != s.term(5, 2) {
					holders++
				}
			}
			return s.Leader() == 1 && holders >= 3
		}, Say: "S1 leads a later term and copied x=1 to S3: on a majority, yet S1's commit index stays at 1."},
		{When: func(s *Simulation) bool { return s.now >= s.doneAt+3*tickUnits }, Do: func(s *Simulation) {
			s.Crash(1)
			s.rewrite = nil
			s.Restart(5)
			s.OnlyClock(5)
		}, Say: "(d) S1 crashes. S5 restarts, its clock first: its last entry's term is newer than x=1's."},
		{When: func(s *Simulation) bool { return s.Leader() == 5 }, Do: func(s *Simulation) {
			s.OnlyClock(raft.None)
			s.Restart(1)
			s.Propose(5)
		}, Say: "S5 wins with votes from S3 and S4. S1 restarts; a client sends y=2 to S5."},
		{When: committedEverywhere, Say: "S5 overwrote x=1 at index 2 on every node. x=1 was never committed, so nothing committed was lost."},
	},
}
