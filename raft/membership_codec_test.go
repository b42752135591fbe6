package raft

import (
	"errors"
	"reflect"
	"testing"
)

func TestMembershipRoundTrip(t *testing.T) {
	for _, m := range []Membership{
		{Voters: []NodeID{1}},
		{Voters: []NodeID{1, 2, 3}, Learners: []NodeID{9}},
		{Voters: []NodeID{1, 4}, OutgoingVoters: []NodeID{1, 2, 3}, Learners: []NodeID{7, 8}},
	} {
		got, err := DecodeMembership(EncodeMembership(m))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip of %+v: %+v, %v", m, got, err)
		}
	}
}

func TestDecodeMembershipRejectsMalformed(t *testing.T) {
	good := EncodeMembership(Membership{Voters: []NodeID{1, 2}, Learners: []NodeID{3}})
	for name, data := range map[string][]byte{
		"empty":        nil,
		"version":      append([]byte{9}, good[1:]...),
		"truncated":    good[:len(good)-1],
		"trailing":     append(append([]byte(nil), good...), 0),
		"huge count":   {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"zero id":      {1, 1, 0, 0, 0},
		"voter twice":  {1, 2, 5, 5, 0, 0},
		"learner also": {1, 1, 5, 0, 1, 5},
	} {
		if _, err := DecodeMembership(data); !errors.Is(err, ErrBadMembership) {
			t.Errorf("%s: error %v, want ErrBadMembership", name, err)
		}
	}
}

func FuzzDecodeMembership(f *testing.F) {
	f.Add(EncodeMembership(Membership{Voters: []NodeID{1, 2, 3}}))
	f.Add(EncodeMembership(Membership{Voters: []NodeID{1, 4}, OutgoingVoters: []NodeID{1, 2, 3}, Learners: []NodeID{7}}))
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeMembership(data)
		if err != nil {
			if !errors.Is(err, ErrBadMembership) {
				t.Fatalf("error %v does not wrap ErrBadMembership", err)
			}
			return
		}
		again, err := DecodeMembership(EncodeMembership(m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("decoded %+v does not round-trip: %+v, %v", m, again, err)
		}
	})
}
