package kv

import (
	"fmt"
	"sync"
	"testing"

	"github.com/lockstepdb/lockstep/machine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// fuzzTarget is the store of one fuzzing process and its last index.
type fuzzTarget struct {
	store *Store
	index uint64
}

// fuzzStore opens one store per fuzzing process, with some history, so
// that inputs meet keys, leases and revisions.
var fuzzStore = sync.OnceValues(func() (*fuzzTarget, error) {
	store, err := Open("fuzz", Options{InMemory: true})
	if err != nil {
		return nil, err
	}
	target := &fuzzTarget{store: store}
	requests := []*pb.InternalRaftRequest{{LeaseGrant: &pb.LeaseGrantRequest{ID: 1, TTL: 60}}}
	for i := range 20 {
		requests = append(requests, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "key-%d", i%6), Value: fmt.Append(nil, i), Lease: int64(i % 2)}})
	}
	for _, request := range requests {
		command, err := EncodeCommand(request)
		if err != nil {
			return nil, err
		}
		target.index++
		if result := store.Apply([]machine.Entry{{Index: target.index, Command: command}})[0]; !isResponse(result) {
			return nil, fmt.Errorf("fuzz setup: %v: %v", request, result)
		}
	}
	return target, nil
})

// FuzzApply feeds arbitrary bytes to Apply as a command: it must never
// panic, and a command it refuses (undecodable, or answered with an
// error) must leave the state as it was. Run longer with
// go test -run '^$' -fuzz FuzzApply ./kv.
func FuzzApply(f *testing.F) {
	for _, request := range []*pb.InternalRaftRequest{
		{Put: &pb.PutRequest{Key: []byte("key-1"), Value: []byte("v"), Lease: 1, PrevKv: true}},
		{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("key-"), RangeEnd: []byte("key."), PrevKv: true}},
		{Txn: &pb.TxnRequest{Compare: []*pb.Compare{compareOn("key-2", "", pb.Compare_VERSION, pb.Compare_GREATER, 0, "")}, Success: []*pb.RequestOp{opGet("key-", "key."), opPut("key-9", "x")}, Failure: []*pb.RequestOp{opTxn(&pb.TxnRequest{})}}},
		{Range: &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 3, SortTarget: pb.RangeRequest_VALUE, Limit: 2}},
		{Compaction: &pb.CompactionRequest{Revision: 2}},
		{LeaseGrant: &pb.LeaseGrantRequest{ID: 2, TTL: 5}},
		{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}},
		{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: 1, Alarm: pb.AlarmType_NOSPACE}},
		{Put: &pb.PutRequest{Key: []byte("a")}, DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}},
	} {
		command, err := EncodeCommand(request)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(command)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, command []byte) {
		target, err := fuzzStore()
		if err != nil {
			t.Fatal(err)
		}
		before := summary(t, target.store)
		target.index++
		result := target.store.Apply([]machine.Entry{{Index: target.index, Term: 1, Command: command}})[0]
		err, refused := result.(error)
		if !refused {
			return
		}
		after := summary(t, target.store)
		if withoutApplied(after) != withoutApplied(before) {
			t.Fatalf("refused command %x (%v) changed the state:\n%s\n%s", command, err, before, after)
		}
	})
}

// withoutApplied drops the applied index from a summary: a refused
// command is still applied, as a no-op.
func withoutApplied(summary string) string {
	var applied uint64
	var rest string
	if _, err := fmt.Sscanf(summary, "applied %d", &applied); err == nil {
		rest = summary[len(fmt.Sprintf("applied %d", applied)):]
	}
	return rest
}
