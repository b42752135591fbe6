package playground

import (
	"slices"
	"testing"

	"github.com/lockstepdb/lockstep/raft"
)

// run plays a scenario to its end and fails if it never finishes its
// stages.
func run(t *testing.T, scenario string, seed uint64) *Simulation {
	t.Helper()
	s, err := New(scenario, seed)
	if err != nil {
		t.Fatal(err)
	}
	for s.Step() {
	}
	if s.stage != len(s.scenario.Stages) {
		t.Fatalf("%s seed %d: stuck before stage %d of %d at step %d; captions %v", scenario, seed, s.stage+1, len(s.scenario.Stages), s.steps, s.captions)
	}
	return s
}

func labels(s *Simulation, id raft.NodeID) []string {
	var out []string
	for _, entry := range s.State().Nodes[id-1].Log {
		out = append(out, entry.Label)
	}
	return out
}

func TestEveryScenarioFinishesOnSeveralSeeds(t *testing.T) {
	for _, scenario := range Scenarios() {
		if scenario.Free {
			continue
		}
		for seed := uint64(1); seed <= 8; seed++ {
			run(t, scenario.Name, seed)
		}
	}
}

func TestQuorumEntrySurvives(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		s := run(t, "quorum-survives", seed)
		for _, n := range s.State().Nodes {
			if n.Down || n.Commit != uint64(len(n.Log)) || !slices.Contains(labels(s, raft.NodeID(n.ID)), "x=1") {
				t.Errorf("seed %d: %s commit %d, log %v", seed, n.Name, n.Commit, labels(s, raft.NodeID(n.ID)))
			}
		}
	}
}

// overwritten checks that x=1 was replaced everywhere by y=2.
func overwritten(t *testing.T, scenario string, seed uint64) {
	t.Helper()
	s := run(t, scenario, seed)
	for _, n := range s.State().Nodes {
		got := labels(s, raft.NodeID(n.ID))
		if slices.Contains(got, "x=1") || !slices.Contains(got, "y=2") {
			t.Errorf("%s seed %d: %s log %v: want y=2 and no x=1", scenario, seed, n.Name, got)
		}
	}
}

func TestLeaderOnlyEntryLost(t *testing.T) { overwritten(t, "leader-only-lost", 3) }

func TestFigure8OverwritesOldTermEntry(t *testing.T) { overwritten(t, "figure-8", 1) }

func TestPreVoteKeepsLeaderAndTerm(t *testing.T) {
	with := run(t, "prevote", 2)
	leader := raft.NodeID(with.memo["L"])
	if with.Leader() != leader {
		t.Errorf("with PreVote the leader changed from %s to %s", name(leader), name(with.Leader()))
	}
	without := run(t, "no-prevote", 2)
	if without.Leader() == raft.NodeID(without.memo["L"]) && without.node(without.Leader()).core.Status().Term == with.node(leader).core.Status().Term {
		t.Errorf("without PreVote the rejoining follower did not disrupt the leader")
	}
}

func TestJointConsensusEndsWithFourVoters(t *testing.T) {
	s := run(t, "joint-consensus", 1)
	membership := s.node(s.Leader()).core.Membership()
	if len(membership.Voters) != 4 || len(membership.OutgoingVoters) != 0 {
		t.Errorf("membership %+v, want four voters", membership)
	}
}

func TestSameSeedSameRunAndStepBack(t *testing.T) {
	player, err := NewPlayer("replication", 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	at40 := player.StepTo(40)
	player.StepTo(120)
	again := player.StepTo(40)
	if at40.Time != again.Time || len(at40.Messages) != len(again.Messages) || at40.Nodes[0].Term != again.Nodes[0].Term {
		t.Errorf("stepping back to 40 gave a different state: %+v vs %+v", at40, again)
	}
}

func TestFreeModeActionsReplayFromTheLink(t *testing.T) {
	player, err := NewPlayer("free", 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	player.StepTo(200)
	if err := player.Act("propose", 0); err != nil {
		t.Fatal(err)
	}
	player.StepTo(260)
	if err := player.Act("crash", 2); err != nil {
		t.Fatal(err)
	}
	want := player.StepTo(400)
	actions, err := ParseActions(FormatActions(want.Actions))
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := NewPlayer("free", 7, actions)
	if err != nil {
		t.Fatal(err)
	}
	got := replayed.StepTo(400)
	if !got.Nodes[1].Down || len(got.Nodes[0].Log) != len(want.Nodes[0].Log) || got.Time != want.Time {
		t.Errorf("replay from the link differs: %+v vs %+v", got.Nodes, want.Nodes)
	}
	if err := player.Act("explode", 1); err == nil {
		t.Errorf("an unknown action was accepted")
	}
	if _, err := ParseActions("1:crash"); err == nil {
		t.Errorf("a malformed action parsed")
	}
}
