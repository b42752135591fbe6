package raft

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var sampleMemberships = []Membership{
	{},
	{Voters: []NodeID{1}},
	{Voters: []NodeID{1, 2, 3}, Learners: []NodeID{9}},
	{Voters: []NodeID{1, 4}, OutgoingVoters: []NodeID{1, 2, 3}, Learners: []NodeID{7, 8}},
	{Voters: []NodeID{1 << 63, 300}, Learners: []NodeID{^NodeID(0)}},
}

func TestMembershipRoundTrip(t *testing.T) {
	for _, m := range sampleMemberships {
		encoded := EncodeMembership(m)
		if encoded[0] != MembershipFormat || len(encoded) != 1+MembershipBodySize(m) {
			t.Fatalf("%+v encodes as %x: version byte or size (%d) wrong", m, encoded, MembershipBodySize(m))
		}
		got, err := DecodeMembership(encoded)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip of %+v: %+v, %v", m, got, err)
		}
		// The body is self-delimiting: what follows it is the caller's.
		body := append(AppendMembershipBody([]byte("prefix"), m)[len("prefix"):], "rest"...)
		got, size, err := ReadMembershipBody(body)
		if err != nil || !reflect.DeepEqual(got, m) || string(body[size:]) != "rest" {
			t.Fatalf("body of %+v: %+v, %d bytes, %v", m, got, size, err)
		}
	}
}

// The format is fixed: logs hold it. A change of format needs a new
// MembershipFormat, and this test shows the bytes of format 1.
func TestMembershipFormat1Bytes(t *testing.T) {
	m := Membership{Voters: []NodeID{1, 300}, OutgoingVoters: []NodeID{1}, Learners: nil}
	want := []byte{1, 2, 1, 0xac, 0x02, 1, 1, 0}
	if got := EncodeMembership(m); !bytes.Equal(got, want) {
		t.Fatalf("EncodeMembership = %x, want %x", got, want)
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
		"non-minimal":  {1, 1, 0x85, 0x00, 0, 0},
		"zero id":      {1, 1, 0, 0, 0},
		"voter twice":  {1, 2, 5, 5, 0, 0},
		"learner also": {1, 1, 5, 0, 1, 5},
	} {
		if _, err := DecodeMembership(data); !errors.Is(err, ErrBadMembership) {
			t.Errorf("%s: error %v, want ErrBadMembership", name, err)
		}
	}
}

// legacyMembership is the fixed-width layout of WAL and snapshot format 1,
// written by hand: nothing encodes it any more.
func legacyMembership(lists ...[]uint64) []byte {
	var data []byte
	for _, list := range lists {
		data = append(data, byte(len(list)), 0, 0, 0)
		for _, id := range list {
			for shift := 0; shift < 64; shift += 8 {
				data = append(data, byte(id>>shift))
			}
		}
	}
	return data
}

func TestDecodeLegacyMembership(t *testing.T) {
	got, err := DecodeLegacyMembership(legacyMembership([]uint64{1, 4}, []uint64{1, 2, 3}, []uint64{1 << 40}))
	want := Membership{Voters: []NodeID{1, 4}, OutgoingVoters: []NodeID{1, 2, 3}, Learners: []NodeID{1 << 40}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeLegacyMembership = %+v, %v; want %+v", got, err, want)
	}
	if got, err := DecodeLegacyMembership(legacyMembership(nil, nil, nil)); err != nil || !reflect.DeepEqual(got, Membership{}) {
		t.Fatalf("empty legacy membership: %+v, %v", got, err)
	}
	good := legacyMembership([]uint64{1, 2}, nil, []uint64{3})
	for name, data := range map[string][]byte{
		"empty":       nil,
		"truncated":   good[:len(good)-1],
		"trailing":    append(append([]byte(nil), good...), 0),
		"huge count":  {0xff, 0xff, 0xff, 0xff},
		"zero id":     legacyMembership([]uint64{0}, nil, nil),
		"voter twice": legacyMembership([]uint64{5, 5}, nil, nil),
	} {
		if _, err := DecodeLegacyMembership(data); !errors.Is(err, ErrBadMembership) {
			t.Errorf("%s: error %v, want ErrBadMembership", name, err)
		}
	}
}

// FuzzDecodeMembership feeds arbitrary bytes to the membership decoders:
// they never panic, fail only with ErrBadMembership, and what they accept
// is valid and round-trips; what DecodeMembership accepts is canonical
// (it encodes back to its input).
func FuzzDecodeMembership(f *testing.F) {
	for _, m := range sampleMemberships {
		f.Add(EncodeMembership(m))
	}
	f.Add([]byte{1, 0xff})
	f.Add(legacyMembership([]uint64{1, 2, 3}, nil, []uint64{4}))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(decoder string, m Membership, err error) {
			if err != nil {
				if !errors.Is(err, ErrBadMembership) {
					t.Fatalf("%s: error %v does not wrap ErrBadMembership", decoder, err)
				}
				return
			}
			if err := validateMembership(m); err != nil {
				t.Fatalf("%s accepted an invalid membership %+v: %v", decoder, m, err)
			}
			again, err := DecodeMembership(EncodeMembership(m))
			if err != nil || !reflect.DeepEqual(again, m) {
				t.Fatalf("%s: decoded %+v does not round-trip: %+v, %v", decoder, m, again, err)
			}
		}
		m, err := DecodeMembership(data)
		check("DecodeMembership", m, err)
		if err == nil && !bytes.Equal(EncodeMembership(m), data) {
			t.Fatalf("DecodeMembership accepted %x, which encodes as %x", data, EncodeMembership(m))
		}
		m, size, err := ReadMembershipBody(data)
		check("ReadMembershipBody", m, err)
		if err == nil && (size > len(data) || !bytes.Equal(AppendMembershipBody(nil, m), data[:size])) {
			t.Fatalf("ReadMembershipBody took %d of %d bytes for %+v", size, len(data), m)
		}
		m, err = DecodeLegacyMembership(data)
		check("DecodeLegacyMembership", m, err)
	})
}
