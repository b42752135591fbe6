package fault

import (
	"reflect"
	"testing"

	"github.com/lockstepdb/lockstep/check/cluster"
)

func TestParseKinds(t *testing.T) {
	kinds, err := ParseKinds(" kill,pause,,kill ,transfer")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Kind{Kill, Pause, Transfer}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("ParseKinds = %v, want %v", kinds, want)
	}
	if kinds, err := ParseKinds(""); err != nil || len(kinds) != 0 {
		t.Fatalf("ParseKinds(\"\") = %v, %v; want none", kinds, err)
	}
	if _, err := ParseKinds("kill,explode"); err == nil {
		t.Fatal("ParseKinds accepted an unknown fault")
	}
	if Transfer.NeedsProcessControl() || !Partition.NeedsProcessControl() {
		t.Fatal("only transfer works without process control")
	}
}

func TestScheduleIsDeterminedBySeed(t *testing.T) {
	plans := func(seed int64) []Plan {
		schedule := NewSchedule(seed, Kinds)
		var plans []Plan
		for range 50 {
			plans = append(plans, schedule.Next())
		}
		return plans
	}
	if !reflect.DeepEqual(plans(7), plans(7)) {
		t.Fatal("the same seed gave different schedules")
	}
	if reflect.DeepEqual(plans(7), plans(8)) {
		t.Fatal("different seeds gave the same schedule")
	}
	seen := map[Kind]bool{}
	for _, plan := range plans(7) {
		seen[plan.Kind] = true
		if plan.Kind == Pause && plan.Hold <= cluster.ElectionTimeout {
			t.Errorf("pause of %s is not longer than the election timeout", plan.Hold)
		}
		if plan.Quiet <= 0 {
			t.Errorf("plan without a quiet period: %+v", plan)
		}
	}
	if len(seen) != len(Kinds) {
		t.Errorf("50 plans used only %v", seen)
	}
}

// cutSet renders links as a set for comparison.
func cutSet(links []link) map[link]bool {
	set := map[link]bool{}
	for _, cut := range links {
		set[cut] = true
	}
	return set
}

func TestPartitionShapes(t *testing.T) {
	three := []string{"a", "b", "c"}
	five := []string{"a", "b", "c", "d", "e"}

	links, _ := partitionLinks(IsolateLeader, three, "b", 1)
	if want := cutSet([]link{{"b", "a"}, {"a", "b"}, {"b", "c"}, {"c", "b"}}); !reflect.DeepEqual(cutSet(links), want) {
		t.Errorf("isolate leader cuts %v, want %v", links, want)
	}

	links, _ = partitionLinks(FromLeaderLost, three, "a", 1)
	if want := cutSet([]link{{"a", "b"}, {"a", "c"}}); !reflect.DeepEqual(cutSet(links), want) {
		t.Errorf("leader cannot speak cuts %v, want %v", links, want)
	}
	links, _ = partitionLinks(ToLeaderLost, three, "a", 1)
	if want := cutSet([]link{{"b", "a"}, {"c", "a"}}); !reflect.DeepEqual(cutSet(links), want) {
		t.Errorf("leader cannot hear cuts %v, want %v", links, want)
	}

	for choice := range uint64(20) {
		links, description := partitionLinks(Bridge, three, "a", choice)
		// Exactly one pair cannot talk, both ways; the third member bridges.
		if len(links) != 2 || links[0].from != links[1].to || links[0].to != links[1].from {
			t.Fatalf("bridge of three cuts %v (%s)", links, description)
		}
		links, description = partitionLinks(MajorityMinority, five, "a", choice)
		isolated := map[string]bool{}
		for _, cut := range links {
			isolated[cut.from] = true
		}
		// Every member is cut from someone; a minority of m members has
		// 2*m*(5-m) directed links cut, m being 1 or 2.
		if len(isolated) != 5 || (len(links) != 8 && len(links) != 12) {
			t.Fatalf("majority/minority of five cuts %v (%s)", links, description)
		}
	}
}

// TestScheduleDealsEveryKindEachRound: every run of len(kinds) plans holds
// every kind once, whatever the seed, so a short run sees them all; a kind
// that could not be injected is dealt again before the next round, once.
func TestScheduleDealsEveryKindEachRound(t *testing.T) {
	for seed := range int64(200) {
		schedule := NewSchedule(seed, Kinds)
		for round := range 3 {
			seen := map[Kind]bool{}
			for range Kinds {
				seen[schedule.Next().Kind] = true
			}
			if len(seen) != len(Kinds) {
				t.Fatalf("seed %d, round %d dealt only %v", seed, round, seen)
			}
		}
	}
	schedule := NewSchedule(1, []Kind{Kill, Pause, Transfer})
	first := schedule.Next().Kind
	schedule.Again(first)
	schedule.Again(first) // at most once per round
	var rest []Kind
	for range 3 {
		rest = append(rest, schedule.Next().Kind)
	}
	if rest[2] != first || rest[0] == first || rest[1] == first {
		t.Fatalf("after %s failed the round went on %v, want it dealt again last", first, rest)
	}
	next := map[Kind]bool{}
	for range 3 {
		next[schedule.Next().Kind] = true
	}
	if len(next) != 3 {
		t.Fatalf("the next round dealt %v, want all three kinds once", next)
	}
}
