package kv

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// rangeFixture writes a=3 (rev 2), b=1 (3), c=2 (4), b=4 (5), d=0 (6).
func rangeFixture(t *testing.T) *harness {
	h := newHarness(t, Options{})
	for _, put := range [][2]string{{"a", "3"}, {"b", "1"}, {"c", "2"}, {"b", "4"}, {"d", "0"}} {
		h.put(put[0], put[1], 0)
	}
	return h
}

// TestRangeOptions checks each Range option against what etcd answers.
func TestRangeOptions(t *testing.T) {
	h := rangeFixture(t)
	var (
		a = "a=3 c2 m2 v1"
		b = "b=4 c3 m5 v2"
		c = "c=2 c4 m4 v1"
		d = "d=0 c6 m6 v1"
	)
	cases := []struct {
		name    string
		request *pb.RangeRequest
		want    []string
		count   int64
		more    bool
	}{
		{"single key", &pb.RangeRequest{Key: []byte("b")}, []string{b}, 1, false},
		{"missing key", &pb.RangeRequest{Key: []byte("bb")}, []string{}, 0, false},
		{"interval", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}, []string{a, b}, 2, false},
		{"end before key", &pb.RangeRequest{Key: []byte("c"), RangeEnd: []byte("a")}, []string{}, 0, false},
		{"from key on", &pb.RangeRequest{Key: []byte("b"), RangeEnd: []byte{0}}, []string{b, c, d}, 3, false},
		{"everything", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}, []string{a, b, c, d}, 4, false},
		{"limit cuts", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 2}, []string{a, b}, 4, true},
		{"limit equal to count", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 4}, []string{a, b, c, d}, 4, false},
		{"negative limit is none", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Limit: -1}, []string{a, b, c, d}, 4, false},
		{"sort by value", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_ASCEND}, []string{d, c, a, b}, 4, false},
		{"order NONE with target MOD ascends", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: pb.RangeRequest_MOD}, []string{a, c, b, d}, 4, false},
		{"create descending", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: pb.RangeRequest_CREATE, SortOrder: pb.RangeRequest_DESCEND}, []string{d, c, b, a}, 4, false},
		{"version ascending keeps key order in ties", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: pb.RangeRequest_VERSION, SortOrder: pb.RangeRequest_ASCEND}, []string{a, c, d, b}, 4, false},
		{"key descending", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: pb.RangeRequest_KEY, SortOrder: pb.RangeRequest_DESCEND}, []string{d, c, b, a}, 4, false},
		{"order NONE with target VALUE sorts only limit+1 keys (etcd)", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: pb.RangeRequest_VALUE, Limit: 1}, []string{a}, 4, true},
		{"sort then limit", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_DESCEND, Limit: 2}, []string{b, a}, 4, true},
		{"keys only", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), KeysOnly: true}, []string{"a= c2 m2 v1", "b= c3 m5 v2"}, 2, false},
		{"keys only sorted by value", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), KeysOnly: true, SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_DESCEND}, []string{"b= c3 m5 v2", "a= c2 m2 v1"}, 2, false},
		{"count only", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), CountOnly: true}, []string{}, 4, false},
		{"min mod revision", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), MinModRevision: 4}, []string{b, c, d}, 4, false},
		{"max mod revision", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), MaxModRevision: 4}, []string{a, c}, 4, false},
		{"create revision window", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), MinCreateRevision: 3, MaxCreateRevision: 4}, []string{b, c}, 4, false},
		{"filter then limit", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), MinModRevision: 4, Limit: 2}, []string{b, c}, 4, true},
		{"past revision", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 3}, []string{a, "b=1 c3 m3 v1"}, 2, false},
		{"past revision with limit", &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 5, Limit: 1}, []string{a}, 3, true},
		{"past revision count only", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 4, CountOnly: true}, []string{}, 3, false},
		{"current revision given", &pb.RangeRequest{Key: []byte("d"), Revision: 6}, []string{d}, 1, false},
	}
	for _, c := range cases {
		response := h.get(c.request)
		if got := describe(response.Kvs); !equalStrings(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if response.Count != c.count || response.More != c.more {
			t.Errorf("%s: count %d more %v, want %d %v", c.name, response.Count, response.More, c.count, c.more)
		}
		if response.Header.GetRevision() != 6 {
			t.Errorf("%s: header revision %d, want 6", c.name, response.Header.GetRevision())
		}
	}
}

// TestRangeErrors checks the refusals of Range.
func TestRangeErrors(t *testing.T) {
	h := rangeFixture(t)
	h.compact(4)
	cases := []struct {
		name    string
		request *pb.RangeRequest
		want    error
	}{
		{"future revision", &pb.RangeRequest{Key: []byte("a"), Revision: 7}, rpctypes.ErrGRPCFutureRev},
		{"compacted revision", &pb.RangeRequest{Key: []byte("a"), Revision: 3}, rpctypes.ErrGRPCCompacted},
		{"empty key", &pb.RangeRequest{}, rpctypes.ErrGRPCEmptyKey},
		{"bad sort order", &pb.RangeRequest{Key: []byte("a"), SortOrder: 9}, rpctypes.ErrGRPCInvalidSortOption},
		{"bad sort target", &pb.RangeRequest{Key: []byte("a"), SortTarget: 9}, rpctypes.ErrGRPCInvalidSortOption},
	}
	for _, c := range cases {
		if _, err := h.store.Range(c.request); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	response := h.get(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 4})
	if got, want := describe(response.Kvs), []string{"a=3 c2 m2 v1", "b=1 c3 m3 v1", "c=2 c4 m4 v1"}; !equalStrings(got, want) {
		t.Errorf("range at the compacted revision: %v, want %v", got, want)
	}
}

// TestKeysWithZeroBytes checks that history reads keep keys with 0x00
// bytes apart and in etcd's order (the history table escapes them).
func TestKeysWithZeroBytes(t *testing.T) {
	h := newHarness(t, Options{})
	keys := []string{"x", "x\x00", "x\x00\x00", "x\x00\x01", "x\x01", "x\xff"}
	for _, key := range keys {
		h.put(key, "1", 0)
	}
	for _, key := range keys {
		h.put(key, "2", 0)
	}
	for revision := int64(1); revision <= 13; revision++ {
		response := h.get(&pb.RangeRequest{Key: []byte("x"), RangeEnd: []byte("y"), Revision: revision})
		var want []string
		for i, key := range keys {
			switch {
			case revision >= int64(8+i):
				want = append(want, key+"=2")
			case revision >= int64(2+i):
				want = append(want, key+"=1")
			}
		}
		var got []string
		for _, kv := range response.Kvs {
			got = append(got, string(kv.Key)+"="+string(kv.Value))
		}
		if !equalStrings(got, want) {
			t.Errorf("revision %d: %q, want %q", revision, got, want)
		}
		single := h.get(&pb.RangeRequest{Key: []byte("x\x00"), Revision: revision})
		if wantOne := revision >= 3; (len(single.Kvs) == 1) != wantOne {
			t.Errorf("revision %d: key x\\x00 read %v", revision, describe(single.Kvs))
		}
	}
}

// TestKeysOnlyLeases checks etcd's keys-only answers: leases are 0 unless
// the read sorts by value (etcd reads them from its index otherwise).
func TestKeysOnlyLeases(t *testing.T) {
	h := newHarness(t, Options{})
	h.grant(9, 60)
	h.put("a", "1", 9)
	plain := h.get(&pb.RangeRequest{Key: []byte("a"), KeysOnly: true})
	byValue := h.get(&pb.RangeRequest{Key: []byte("a"), KeysOnly: true, SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_ASCEND})
	if got := describe(plain.Kvs); !equalStrings(got, []string{"a= c2 m2 v1"}) {
		t.Errorf("keys only: %v", got)
	}
	if got := describe(byValue.Kvs); !equalStrings(got, []string{"a= c2 m2 v1 l9"}) {
		t.Errorf("keys only sorted by value: %v", got)
	}
}
