package kv

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestLeaseGrant checks grants and etcd's refusals.
func TestLeaseGrant(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1", 0)
	response := h.one(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 10, TTL: 30}}).(*pb.LeaseGrantResponse)
	sameMessage(t, "grant", response, &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: 2}, ID: 10, TTL: 30})
	h.grant(-3, 5)
	cases := []struct {
		name    string
		request *pb.LeaseGrantRequest
		want    error
	}{
		{"ID 0", &pb.LeaseGrantRequest{ID: 0, TTL: 5}, rpctypes.ErrGRPCLeaseNotFound},
		{"existing ID", &pb.LeaseGrantRequest{ID: 10, TTL: 5}, rpctypes.ErrGRPCLeaseExist},
		{"TTL too large", &pb.LeaseGrantRequest{ID: 11, TTL: MaxLeaseTTL + 1}, rpctypes.ErrGRPCLeaseTTLTooLarge},
	}
	for _, c := range cases {
		if err, _ := h.one(&pb.InternalRaftRequest{LeaseGrant: c.request}).(error); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	leases := h.store.Leases()
	if len(leases) != 2 || leases[0].ID != -3 || leases[1].ID != 10 || leases[1].TTL != 30 {
		t.Errorf("Leases: %+v, want -3 then 10", leases)
	}
	if current, _ := h.store.Revision(); current != 2 {
		t.Errorf("grants moved the revision to %d", current)
	}
}

// TestLeaseAttachmentAndRevoke attaches keys, moves and detaches some,
// then revokes: every attached key is deleted in one revision, in key
// order, with DELETE events.
func TestLeaseAttachmentAndRevoke(t *testing.T) {
	h := newHarness(t, Options{})
	h.grant(1, 60)
	h.grant(2, 60)
	h.put("c", "v", 1)
	h.put("a", "v", 1)
	h.put("b", "v", 1)
	h.put("moved", "v", 1)
	h.put("moved", "v", 2)
	h.put("deleted", "v", 1)
	h.remove("deleted", "")
	h.put("kept", "v", 1)
	h.one(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("kept"), IgnoreValue: true}}) // lease 0 now
	info, ok := h.store.Lease(1)
	if !ok || !equalStrings(bytesToStrings(info.Keys), []string{"a", "b", "c"}) {
		t.Fatalf("lease 1: %+v %v, want keys a b c", info, ok)
	}
	watcher, err := h.store.Watch(WatchRequest{Key: []byte{0}, RangeEnd: []byte{0}, PrevKV: true})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	before, _ := h.store.Revision()
	response := h.one(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}}).(*pb.LeaseRevokeResponse)
	if response.Header.Revision != before+1 {
		t.Errorf("revoke header revision %d, want %d", response.Header.Revision, before+1)
	}
	got := <-watcher.Responses()
	var deleted []string
	for _, event := range got.Events {
		if event.Type != mvccpb.Event_DELETE || event.Kv.ModRevision != before+1 || event.PrevKv.GetLease() != 1 {
			t.Errorf("revoke event %v", event)
		}
		deleted = append(deleted, string(event.Kv.Key))
	}
	if !equalStrings(deleted, []string{"a", "b", "c"}) {
		t.Errorf("revoke deleted %v, want a b c in order", deleted)
	}
	left := describe(h.get(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}).Kvs)
	if !equalStrings(left, []string{"kept=v c9 m10 v2", "moved=v c5 m6 v2 l2"}) {
		t.Errorf("after revoke: %v", left)
	}
	if _, ok := h.store.Lease(1); ok {
		t.Errorf("lease 1 still granted after revoke")
	}
	if err, _ := h.one(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}}).(error); !errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) {
		t.Errorf("second revoke: %v", err)
	}
	h.grant(3, 60)
	current, _ := h.store.Revision()
	if response := h.one(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 3}}).(*pb.LeaseRevokeResponse); response.Header.Revision != current {
		t.Errorf("revoke of a lease without keys moved the revision to %d", response.Header.Revision)
	}
}

// TestLeaseCheckpoint records remaining TTLs of existing leases only.
func TestLeaseCheckpoint(t *testing.T) {
	h := newHarness(t, Options{})
	h.grant(4, 100)
	result := h.one(&pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{Checkpoints: []*pb.LeaseCheckpoint{{ID: 4, Remaining_TTL: 42}, {ID: 5, Remaining_TTL: 7}}}})
	if _, ok := result.(*pb.LeaseCheckpointResponse); !ok {
		t.Fatalf("checkpoint: %v", result)
	}
	if info, _ := h.store.Lease(4); info.TTL != 100 || info.RemainingTTL != 42 {
		t.Errorf("lease 4 after checkpoint: %+v", info)
	}
	if _, ok := h.store.Lease(5); ok {
		t.Errorf("checkpoint granted unknown lease 5")
	}
}

func bytesToStrings(values [][]byte) []string {
	strings := []string{}
	for _, value := range values {
		strings = append(strings, string(value))
	}
	return strings
}
