package kv

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestRevisionsAndVersions follows one key through puts, a delete and a
// re-creation, and checks the revision, create/mod revisions and version
// etcd gives at each step.
func TestRevisionsAndVersions(t *testing.T) {
	h := newHarness(t, Options{})
	if current, compacted := h.store.Revision(); current != 1 || compacted != -1 {
		t.Fatalf("empty store: revision %d compacted %d, want 1 and -1", current, compacted)
	}
	steps := []struct {
		name     string
		apply    func() int64
		revision int64
	}{
		{"create", func() int64 { return h.put("a", "1", 0).Header.Revision }, 2},
		{"update", func() int64 { return h.put("a", "2", 0).Header.Revision }, 3},
		{"other key", func() int64 { return h.put("b", "x", 0).Header.Revision }, 4},
		{"delete", func() int64 { return h.remove("a", "").Header.Revision }, 5},
		{"delete of nothing keeps the revision", func() int64 { return h.remove("a", "").Header.Revision }, 5},
		{"re-create", func() int64 { return h.put("a", "3", 0).Header.Revision }, 6},
	}
	for _, step := range steps {
		if got := step.apply(); got != step.revision {
			t.Errorf("%s: header revision %d, want %d", step.name, got, step.revision)
		}
		if current, _ := h.store.Revision(); current != step.revision {
			t.Errorf("%s: store revision %d, want %d", step.name, current, step.revision)
		}
	}
	wantAt := map[int64][]string{1: {}, 2: {"a=1 c2 m2 v1"}, 3: {"a=2 c2 m3 v2"}, 4: {"a=2 c2 m3 v2", "b=x c4 m4 v1"}, 5: {"b=x c4 m4 v1"}, 6: {"a=3 c6 m6 v1", "b=x c4 m4 v1"}}
	for revision, want := range wantAt {
		response := h.get(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), Revision: revision})
		if got := describe(response.Kvs); !equalStrings(got, want) {
			t.Errorf("range at %d: %v, want %v", revision, got, want)
		}
		if response.Header.Revision != 6 {
			t.Errorf("range at %d: header revision %d, want the current 6", revision, response.Header.Revision)
		}
	}
}

// TestPutOptions checks prev_kv, ignore_value, ignore_lease and lease
// attachment, and their errors.
func TestPutOptions(t *testing.T) {
	h := newHarness(t, Options{})
	h.grant(7, 60)
	first := h.one(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v1"), PrevKv: true, Lease: 7}}).(*pb.PutResponse)
	if first.PrevKv != nil {
		t.Errorf("prev_kv of a new key: %v, want none", first.PrevKv)
	}
	second := h.one(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), IgnoreValue: true, IgnoreLease: true, PrevKv: true}}).(*pb.PutResponse)
	sameMessage(t, "prev_kv", second.PrevKv, keyValue("k", "v1", 2, 2, 1, 7))
	got := h.get(&pb.RangeRequest{Key: []byte("k")}).Kvs
	sameKeyValues(t, "after ignore_value and ignore_lease", got, []*mvccpb.KeyValue{keyValue("k", "v1", 2, 3, 2, 7)})
	h.put("k", "v3", 0)
	if info, _ := h.store.Lease(7); len(info.Keys) != 0 {
		t.Errorf("lease 7 keys after a put without lease: %q, want none", info.Keys)
	}
	errorCases := []struct {
		name    string
		request *pb.PutRequest
		want    error
	}{
		{"unknown lease", &pb.PutRequest{Key: []byte("k"), Lease: 99}, rpctypes.ErrGRPCLeaseNotFound},
		{"ignore_value on a missing key", &pb.PutRequest{Key: []byte("missing"), IgnoreValue: true}, rpctypes.ErrGRPCKeyNotFound},
		{"ignore_lease on a missing key", &pb.PutRequest{Key: []byte("missing"), IgnoreLease: true}, rpctypes.ErrGRPCKeyNotFound},
		{"empty key", &pb.PutRequest{Value: []byte("v")}, rpctypes.ErrGRPCEmptyKey},
		{"value with ignore_value", &pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true}, rpctypes.ErrGRPCValueProvided},
		{"lease with ignore_lease", &pb.PutRequest{Key: []byte("k"), Lease: 7, IgnoreLease: true}, rpctypes.ErrGRPCLeaseProvided},
	}
	for _, c := range errorCases {
		before, _ := h.store.Revision()
		result := h.one(&pb.InternalRaftRequest{Put: c.request})
		if err, _ := result.(error); !errors.Is(err, c.want) {
			t.Errorf("%s: result %v, want %v", c.name, result, c.want)
		}
		if after, _ := h.store.Revision(); after != before {
			t.Errorf("%s: revision moved from %d to %d", c.name, before, after)
		}
	}
}
