package quorum

import (
	"math/rand/v2"
	"testing"
)

type ID = uint64

// bruteCommitted finds the largest index held by a majority by trying every
// candidate value: the definition, with no cleverness to get wrong.
func bruteCommitted(voters Majority[ID], acks map[ID]uint64) uint64 {
	best := uint64(0)
	for _, candidate := range acks {
		holders := 0
		for _, id := range voters {
			if acks[id] >= candidate {
				holders++
			}
		}
		if holders > len(voters)/2 && candidate > best {
			best = candidate
		}
	}
	return best
}

func TestMajorityCommittedIndexMatchesDefinition(t *testing.T) {
	random := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 5000; trial++ {
		size := 1 + random.IntN(9)
		voters := make(Majority[ID], size)
		acks := map[ID]uint64{}
		for i := range voters {
			voters[i] = ID(i + 1)
			acks[voters[i]] = random.Uint64N(20)
		}
		got := voters.CommittedIndex(func(id ID) uint64 { return acks[id] })
		if want := bruteCommitted(voters, acks); got != want {
			t.Fatalf("voters %v acks %v: committed %d, want %d", voters, acks, got, want)
		}
	}
}

func TestMajorityCommittedIndexExamples(t *testing.T) {
	cases := []struct {
		acks []uint64
		want uint64
	}{
		{[]uint64{5}, 5},
		{[]uint64{5, 3}, 3},       // 2 voters need both
		{[]uint64{5, 3, 1}, 3},    // 2 of 3
		{[]uint64{5, 5, 1, 1}, 1}, // 3 of 4
		{[]uint64{9, 8, 7, 1, 1}, 7},
		{[]uint64{9, 8, 7, 6, 1, 1, 1}, 6},
	}
	for _, c := range cases {
		voters := make(Majority[ID], len(c.acks))
		for i := range voters {
			voters[i] = ID(i + 1)
		}
		got := voters.CommittedIndex(func(id ID) uint64 { return c.acks[id-1] })
		if got != c.want {
			t.Errorf("acks %v: committed %d, want %d", c.acks, got, c.want)
		}
	}
}

func TestMajorityVote(t *testing.T) {
	voters := Majority[ID]{1, 2, 3, 4, 5}
	cases := []struct {
		votes map[ID]bool
		want  VoteResult
	}{
		{map[ID]bool{}, VotePending},
		{map[ID]bool{1: true, 2: true}, VotePending},
		{map[ID]bool{1: true, 2: true, 3: true}, VoteWon},
		{map[ID]bool{1: false, 2: false, 3: false}, VoteLost},
		{map[ID]bool{1: true, 2: false, 3: false, 4: false}, VoteLost},
		{map[ID]bool{1: true, 2: true, 3: false, 4: false}, VotePending},
		// votes from non-members do not count
		{map[ID]bool{1: true, 2: true, 9: true}, VotePending},
	}
	for _, c := range cases {
		if got := voters.Vote(c.votes); got != c.want {
			t.Errorf("votes %v: %v, want %v", c.votes, got, c.want)
		}
	}
}

func TestJointNeedsBothMajorities(t *testing.T) {
	joint := Joint[ID]{Incoming: Majority[ID]{1, 2, 3}, Outgoing: Majority[ID]{3, 4, 5}}
	acks := map[ID]uint64{1: 10, 2: 10, 3: 4, 4: 2, 5: 1}
	if got := joint.CommittedIndex(func(id ID) uint64 { return acks[id] }); got != 2 {
		t.Fatalf("joint committed %d, want 2 (outgoing majority holds only 2)", got)
	}
	if got := joint.Vote(map[ID]bool{1: true, 2: true}); got != VotePending {
		t.Fatalf("joint vote with only incoming majority: %v, want pending", got)
	}
	if got := joint.Vote(map[ID]bool{1: true, 2: true, 4: true, 5: true}); got != VoteWon {
		t.Fatalf("joint vote with both majorities: %v, want won", got)
	}
	if got := joint.Vote(map[ID]bool{1: true, 2: true, 4: false, 5: false}); got != VoteLost {
		t.Fatalf("joint vote with outgoing majority rejecting: %v, want lost", got)
	}
	single := Joint[ID]{Incoming: Majority[ID]{1, 2, 3}}
	if got := single.CommittedIndex(func(id ID) uint64 { return acks[id] }); got != 10 {
		t.Fatalf("non-joint committed %d, want 10", got)
	}
}
