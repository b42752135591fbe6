package kv

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestTxnChangingAKeyTwiceReportsItsPriorVersionTwice checks that when a
// Txn changes one key twice (a put, then a delete from the key on, which
// etcd's duplicate check lets through), a prev_kv watcher gets, for both
// events, the key's version before the Txn, as etcd reads it at the
// revision before: not the version the Txn's own put made.
func TestTxnChangingAKeyTwiceReportsItsPriorVersionTwice(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "before", 0) // rev 2
	watcher := mustWatch(t, h.store, WatchRequest{Key: []byte("a"), PrevKV: true})
	result := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "inside"), opDelete("a", "\x00")}})
	if !isResponse(result) {
		t.Fatalf("txn: %v", result)
	}
	want := []string{"PUT a=inside@3 prev=before", "DELETE a@3 prev=before"}
	if got := describeEvents(receiveEvents(t, watcher, 2)); !equalStrings(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// TestTxnReadAtTheCompactedRevision checks that a read inside a Txn may
// ask for exactly the compacted revision (still readable, as in etcd);
// only revisions below it are ErrGRPCCompacted.
func TestTxnReadAtTheCompactedRevision(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1", 0) // rev 2
	h.put("a", "2", 0) // rev 3
	h.put("b", "1", 0) // rev 4
	h.compact(3)
	read := func(revision int64) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: revision}}}
	}
	result := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{read(3)}})
	response, ok := result.(*pb.TxnResponse)
	if !ok {
		t.Fatalf("txn reading at the compacted revision: %v", result)
	}
	if got := describe(response.Responses[0].GetResponseRange().Kvs); !equalStrings(got, []string{"a=2 c2 m3 v2"}) {
		t.Errorf("read at the compacted revision: %v", got)
	}
	if result := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{read(2)}}); !errors.Is(result.(error), rpctypes.ErrGRPCCompacted) {
		t.Errorf("txn reading below the compacted revision: %v, want ErrGRPCCompacted", result)
	}
}

// TestLeaseGrantAtTheMaximumTTL checks that MaxLeaseTTL itself is a valid
// TTL, as etcd's (only a larger one is ErrGRPCLeaseTTLTooLarge).
func TestLeaseGrantAtTheMaximumTTL(t *testing.T) {
	h := newHarness(t, Options{})
	h.grant(1, MaxLeaseTTL)
	if info, ok := h.store.Lease(1); !ok || info.TTL != MaxLeaseTTL {
		t.Errorf("lease 1: %+v %v, want TTL %d", info, ok, MaxLeaseTTL)
	}
}

// TestTxnLimitsAreInclusive checks the Txn checks at their boundaries:
// exactly MaxTxnOps operations are allowed, and a put of the range end of
// a deleted interval [key, end) is not a duplicate (end is excluded).
func TestTxnLimitsAreInclusive(t *testing.T) {
	h := newHarness(t, Options{MaxTxnOps: 3})
	txns := []struct {
		name string
		txn  *pb.TxnRequest
	}{
		{"MaxTxnOps operations", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("p", "1"), opPut("q", "1"), opPut("r", "1")}}},
		{"put of a deleted interval's end", &pb.TxnRequest{Success: []*pb.RequestOp{opDelete("a", "c"), opPut("c", "1")}}},
	}
	for _, c := range txns {
		if result := h.txn(c.txn); !isResponse(result) {
			t.Errorf("%s: %v", c.name, result)
		}
	}
}

// TestIgnoreValueWithAnEmptyValue checks that ignore_value with an empty
// (but non-nil) value passes etcd's check, which looks at the length.
func TestIgnoreValueWithAnEmptyValue(t *testing.T) {
	request := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a"), Value: []byte{}, IgnoreValue: true}}
	if err := ValidateRequest(request, 0); err != nil {
		t.Errorf("ignore_value with an empty value: %v", err)
	}
}

// TestWatchFromAfterTheCompactedRevisionHasPreviousValues checks that a
// watch with prev_kv starting right after the compacted revision gets the
// previous key-value of its first event: the version at the compacted
// revision is still readable.
func TestWatchFromAfterTheCompactedRevisionHasPreviousValues(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "1", 0) // rev 2
	h.put("a", "2", 0) // rev 3
	h.compact(2)
	watcher := mustWatch(t, h.store, WatchRequest{Key: []byte("a"), StartRevision: 3, PrevKV: true})
	if got := describeEvents(receiveEvents(t, watcher, 1)); !equalStrings(got, []string{"PUT a=2@3 prev=1"}) {
		t.Errorf("events %v, want the put of revision 3 with its previous value", got)
	}
}

// TestWatchCatchUpNeverSplitsARevision checks that a watcher catching up
// from the store gets all the events of one revision in one response,
// even when they straddle the catch-up budget.
func TestWatchCatchUpNeverSplitsARevision(t *testing.T) {
	h := newHarness(t, Options{})
	var puts []*pb.InternalRaftRequest
	for i := range catchUpBudget - 1 {
		puts = append(puts, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(fmt.Sprintf("k%04d", i)), Value: []byte("v")}})
	}
	h.apply(puts...) // revisions 2 .. catchUpBudget
	last := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), opPut("y", "1")}}).(*pb.TxnResponse).Header.Revision
	watcher := mustWatch(t, h.store, WatchRequest{Key: []byte{0}, RangeEnd: []byte{0}, StartRevision: 2})
	first := receive(t, watcher)
	if n := len(first.Events); n != catchUpBudget+1 || first.Events[n-1].Kv.ModRevision != last {
		t.Fatalf("first catch-up response: %d events, want %d: every event up to the Txn's revision %d", n, catchUpBudget+1, last)
	}
}

// TestRestoreDoesNotRepeatDeliveredEvents checks that a watcher that
// already delivered the latest revision before a Restore continues, after
// it, from the revision after that one: no event twice.
func TestRestoreDoesNotRepeatDeliveredEvents(t *testing.T) {
	fresh := newHarness(t, Options{})
	source := newHarness(t, Options{})
	for _, h := range []*harness{fresh, source} {
		h.put("w", "1", 0) // 2
		h.put("w", "2", 0) // 3
	}
	watcher := mustWatch(t, fresh.store, WatchRequest{Key: []byte("w")})
	fresh.put("w", "3", 0) // 4, delivered live
	source.put("w", "3", 0)
	source.put("w", "4", 0) // 5
	if got := describeEvents(receiveEvents(t, watcher, 1)); !equalStrings(got, []string{"PUT w=3@4"}) {
		t.Fatalf("before restore: %v", got)
	}
	if err := fresh.store.Restore(bytes.NewReader(imageOf(t, source.store))); err != nil {
		t.Fatal(err)
	}
	if got := describeEvents(receiveEvents(t, watcher, 1)); !equalStrings(got, []string{"PUT w=4@5"}) {
		t.Errorf("after restore: %v, want only revision 5", got)
	}
}

// TestTxnTwoNestedTxnsPuttingOneKey checks etcd's duplicate rule across
// sibling nested Txns: the success branches of two nested Txns may not
// both put one key (only the two branches of a single nested Txn may).
func TestTxnTwoNestedTxnsPuttingOneKey(t *testing.T) {
	h := newHarness(t, Options{})
	nested := func() *pb.RequestOp { return opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1")}}) }
	result := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{nested(), nested()}})
	if err, _ := result.(error); !errors.Is(err, rpctypes.ErrGRPCDuplicateKey) {
		t.Errorf("two nested Txns putting a: %v, want ErrGRPCDuplicateKey", result)
	}
}
