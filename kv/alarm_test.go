package kv

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lockstepdb/lockstep/machine"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func alarmRequest(action pb.AlarmRequest_AlarmAction, member uint64, alarm pb.AlarmType) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: action, MemberID: member, Alarm: alarm}}
}

// TestNoSpaceAlarm checks that an active NOSPACE alarm refuses Put, Txn
// with puts and LeaseGrant, and lets deletes, compaction, revokes and
// reads through.
func TestNoSpaceAlarm(t *testing.T) {
	h := newHarness(t, Options{})
	h.grant(1, 60)
	h.put("a", "1", 1)
	h.put("b", "1", 0)
	activated := h.one(alarmRequest(pb.AlarmRequest_ACTIVATE, 9, pb.AlarmType_NOSPACE)).(*pb.AlarmResponse)
	sameMessage(t, "activate", activated, &pb.AlarmResponse{Header: &pb.ResponseHeader{Revision: 3}, Alarms: []*pb.AlarmMember{{MemberID: 9, Alarm: pb.AlarmType_NOSPACE}}})
	refused := []*pb.InternalRaftRequest{
		{Put: &pb.PutRequest{Key: []byte("c"), Value: []byte("1")}},
		{Txn: &pb.TxnRequest{Failure: []*pb.RequestOp{opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("c", "1")}})}}},
		{LeaseGrant: &pb.LeaseGrantRequest{ID: 2, TTL: 5}},
	}
	for _, request := range refused {
		if err, _ := h.one(request).(error); !errors.Is(err, rpctypes.ErrGRPCNoSpace) {
			t.Errorf("%v under NOSPACE: %v", request, err)
		}
	}
	allowed := []*pb.InternalRaftRequest{
		{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("b")}},
		{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{opDelete("x", ""), opGet("a", "")}}},
		{Compaction: &pb.CompactionRequest{Revision: 3}},
		{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}},
		{Range: &pb.RangeRequest{Key: []byte("a")}},
	}
	for _, request := range allowed {
		if result := h.one(request); !isResponse(result) {
			t.Errorf("%v under NOSPACE: %v", request, result)
		}
	}
	if got := h.store.Alarms(); len(got) != 1 || got[0].MemberID != 9 {
		t.Errorf("Alarms: %v", got)
	}
	listed := h.one(alarmRequest(pb.AlarmRequest_GET, 0, pb.AlarmType_NONE)).(*pb.AlarmResponse)
	if len(listed.Alarms) != 1 {
		t.Errorf("GET alarms: %v", listed)
	}
	deactivated := h.one(alarmRequest(pb.AlarmRequest_DEACTIVATE, 9, pb.AlarmType_NOSPACE)).(*pb.AlarmResponse)
	if len(deactivated.Alarms) != 1 {
		t.Errorf("deactivate: %v", deactivated)
	}
	again := h.one(alarmRequest(pb.AlarmRequest_DEACTIVATE, 9, pb.AlarmType_NOSPACE)).(*pb.AlarmResponse)
	if len(again.Alarms) != 0 {
		t.Errorf("deactivate of an inactive alarm: %v", again)
	}
	h.put("c", "1", 0)
}

// TestCorruptAlarm checks that an active CORRUPT alarm refuses reads and
// writes through the log, and that the alarms of one Apply call take
// effect for the next entries of the same call.
func TestCorruptAlarm(t *testing.T) {
	h := newHarness(t, Options{})
	results := h.apply(
		alarmRequest(pb.AlarmRequest_ACTIVATE, 1, pb.AlarmType_CORRUPT),
		&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a")}},
		&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("a")}},
		&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}},
		&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 1}},
		alarmRequest(pb.AlarmRequest_DEACTIVATE, 1, pb.AlarmType_CORRUPT),
		&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a")}},
	)
	for i := 1; i <= 4; i++ {
		if err, _ := results[i].(error); !errors.Is(err, rpctypes.ErrGRPCCorrupt) {
			t.Errorf("entry %d under CORRUPT: %v", i, results[i])
		}
	}
	if !isResponse(results[6]) {
		t.Errorf("put after deactivation: %v", results[6])
	}
}

// TestMemberAttributes stores attributes by member, the last one winning.
func TestMemberAttributes(t *testing.T) {
	h := newHarness(t, Options{})
	set := func(id uint64, name string, urls ...string) {
		result := h.one(&pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{Member_ID: id, MemberAttributes: &membershippb.Attributes{Name: name, ClientUrls: urls}}})
		if result != nil {
			t.Fatalf("member attributes: result %v, want nil", result)
		}
	}
	set(1, "one", "http://127.0.0.1:1")
	set(2, "two")
	set(1, "uno", "http://127.0.0.1:1", "http://127.0.0.1:11")
	members := h.store.MemberAttributes()
	if len(members) != 2 || members[1].Name != "uno" || len(members[1].ClientURLs) != 2 || members[2].Name != "two" {
		t.Errorf("MemberAttributes: %+v", members)
	}
}

// TestAlarmsHoldAcrossAppliesReopenAndRestore: an alarm raised in one
// Apply call refuses writes in later calls, after the store reopens, and
// in a store restored from a snapshot taken while it was active; one
// deactivated in a later call stops refusing them. The store keeps the
// alarms in memory between Apply calls, so each of these paths must
// carry them.
func TestAlarmsHoldAcrossAppliesReopenAndRestore(t *testing.T) {
	refused := func(t *testing.T, store *Store, index uint64) bool {
		t.Helper()
		command, err := EncodeCommand(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}})
		if err != nil {
			t.Fatal(err)
		}
		result := store.Apply([]machine.Entry{{Index: index, Term: 1, Command: command}})[0]
		err, _ = result.(error)
		return errors.Is(err, rpctypes.ErrGRPCNoSpace)
	}
	directory := t.TempDir()
	store, err := Open(directory, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store}
	h.one(alarmRequest(pb.AlarmRequest_ACTIVATE, 1, pb.AlarmType_NOSPACE))
	if !refused(t, store, 2) {
		t.Fatal("a put in the Apply call after the alarm was accepted")
	}
	image := imageOf(t, store)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if store, err = Open(directory, Options{}); err != nil {
		t.Fatal(err)
	}
	if !refused(t, store, 3) {
		t.Fatal("a put after reopening was accepted")
	}
	h = &harness{t: t, store: store, index: 3}
	h.one(alarmRequest(pb.AlarmRequest_DEACTIVATE, 1, pb.AlarmType_NOSPACE))
	if refused(t, store, 5) {
		t.Fatal("a put after the alarm was deactivated was refused")
	}
	if err := store.Restore(bytes.NewReader(image)); err != nil {
		t.Fatal(err)
	}
	if !refused(t, store, 3) {
		t.Fatal("a put after restoring a snapshot with the alarm was accepted")
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
}
