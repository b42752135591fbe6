package kv

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func opPut(key, value string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}}}
}

func opGet(key, end string) *pb.RequestOp {
	request := &pb.RangeRequest{Key: []byte(key)}
	if end != "" {
		request.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: request}}
}

func opDelete(key, end string) *pb.RequestOp {
	request := &pb.DeleteRangeRequest{Key: []byte(key)}
	if end != "" {
		request.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: request}}
}

func opTxn(txn *pb.TxnRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: txn}}
}

// txnResult applies a Txn and returns its result.
func (h *harness) txn(txn *pb.TxnRequest) any {
	h.t.Helper()
	return h.one(&pb.InternalRaftRequest{Txn: txn})
}

// compareOn builds a compare of key (and range end) with a target value.
func compareOn(key, end string, target pb.Compare_CompareTarget, result pb.Compare_CompareResult, value int64, text string) *pb.Compare {
	compare := &pb.Compare{Key: []byte(key), Target: target, Result: result}
	if end != "" {
		compare.RangeEnd = []byte(end)
	}
	switch target {
	case pb.Compare_VALUE:
		compare.TargetUnion = &pb.Compare_Value{Value: []byte(text)}
	case pb.Compare_VERSION:
		compare.TargetUnion = &pb.Compare_Version{Version: value}
	case pb.Compare_CREATE:
		compare.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: value}
	case pb.Compare_MOD:
		compare.TargetUnion = &pb.Compare_ModRevision{ModRevision: value}
	case pb.Compare_LEASE:
		compare.TargetUnion = &pb.Compare_Lease{Lease: value}
	}
	return compare
}

// TestTxnCompares checks every compare target and result on a present
// key, a missing key and an interval.
func TestTxnCompares(t *testing.T) {
	h := newHarness(t, Options{})
	h.grant(5, 60)
	h.put("k", "m", 5) // rev 2
	h.put("k", "m", 5) // rev 3: version 2
	h.put("j", "z", 0) // rev 4
	const (
		eq = pb.Compare_EQUAL
		ne = pb.Compare_NOT_EQUAL
		gt = pb.Compare_GREATER
		lt = pb.Compare_LESS
	)
	cases := []struct {
		name    string
		compare *pb.Compare
		want    bool
	}{
		{"value equal", compareOn("k", "", pb.Compare_VALUE, eq, 0, "m"), true},
		{"value not equal", compareOn("k", "", pb.Compare_VALUE, ne, 0, "m"), false},
		{"value greater", compareOn("k", "", pb.Compare_VALUE, gt, 0, "l"), true},
		{"value less", compareOn("k", "", pb.Compare_VALUE, lt, 0, "l"), false},
		{"version equal", compareOn("k", "", pb.Compare_VERSION, eq, 2, ""), true},
		{"version greater", compareOn("k", "", pb.Compare_VERSION, gt, 1, ""), true},
		{"create equal", compareOn("k", "", pb.Compare_CREATE, eq, 2, ""), true},
		{"create less", compareOn("k", "", pb.Compare_CREATE, lt, 2, ""), false},
		{"mod equal", compareOn("k", "", pb.Compare_MOD, eq, 3, ""), true},
		{"mod not equal", compareOn("k", "", pb.Compare_MOD, ne, 3, ""), false},
		{"lease equal", compareOn("k", "", pb.Compare_LEASE, eq, 5, ""), true},
		{"lease less", compareOn("k", "", pb.Compare_LEASE, lt, 6, ""), true},
		{"missing key: value is always false", compareOn("x", "", pb.Compare_VALUE, ne, 0, "q"), false},
		{"missing key: value equal to empty is false", compareOn("x", "", pb.Compare_VALUE, eq, 0, ""), false},
		{"missing key: version zero", compareOn("x", "", pb.Compare_VERSION, eq, 0, ""), true},
		{"missing key: create zero", compareOn("x", "", pb.Compare_CREATE, eq, 0, ""), true},
		{"missing key: mod zero", compareOn("x", "", pb.Compare_MOD, lt, 1, ""), true},
		{"missing key: lease zero", compareOn("x", "", pb.Compare_LEASE, eq, 0, ""), true},
		{"interval: all must pass", compareOn("j", "l", pb.Compare_MOD, gt, 2, ""), true},
		{"interval: one fails", compareOn("j", "l", pb.Compare_VALUE, eq, 0, "m"), false},
		{"interval from key on", compareOn("a", "\x00", pb.Compare_VERSION, gt, 0, ""), true},
		{"empty interval: zero values", compareOn("p", "q", pb.Compare_CREATE, eq, 0, ""), true},
	}
	for _, c := range cases {
		result := h.txn(&pb.TxnRequest{Compare: []*pb.Compare{c.compare}})
		response, ok := result.(*pb.TxnResponse)
		if !ok {
			t.Fatalf("%s: result %v", c.name, result)
		}
		if response.Succeeded != c.want {
			t.Errorf("%s: succeeded %v, want %v", c.name, response.Succeeded, c.want)
		}
		if response.Header.Revision != 4 {
			t.Errorf("%s: read-only txn moved the revision to %d", c.name, response.Header.Revision)
		}
	}
	both := h.txn(&pb.TxnRequest{Compare: []*pb.Compare{
		compareOn("k", "", pb.Compare_VERSION, eq, 2, ""),
		compareOn("j", "", pb.Compare_VERSION, eq, 2, ""),
	}}).(*pb.TxnResponse)
	if both.Succeeded {
		t.Errorf("two compares, the second false: succeeded")
	}
}

// TestTxnExecution checks the branch taken, reads that see earlier writes,
// the revisions in nested responses, and nested compares made on the
// state before the Txn.
func TestTxnExecution(t *testing.T) {
	h := newHarness(t, Options{})
	h.put("a", "0", 0) // rev 2
	result := h.txn(&pb.TxnRequest{
		Compare: []*pb.Compare{compareOn("a", "", pb.Compare_VALUE, eq(), 0, "0")},
		Success: []*pb.RequestOp{
			opGet("a", ""),
			opPut("a", "1"),
			opGet("a", ""),
			opPut("b", "1"),
			opDelete("zz", ""),
			opTxn(&pb.TxnRequest{
				Compare: []*pb.Compare{compareOn("b", "", pb.Compare_VERSION, eq(), 0, "")},
				Success: []*pb.RequestOp{opPut("c", "nested-success"), opGet("c", "")},
				Failure: []*pb.RequestOp{opPut("c", "nested-failure")},
			}),
		},
		Failure: []*pb.RequestOp{opPut("f", "1")},
	})
	response, ok := result.(*pb.TxnResponse)
	if !ok {
		t.Fatalf("txn: %v", result)
	}
	if !response.Succeeded || response.Header.Revision != 3 || len(response.Responses) != 6 {
		t.Fatalf("txn: succeeded %v revision %d responses %d", response.Succeeded, response.Header.Revision, len(response.Responses))
	}
	first := response.Responses[0].GetResponseRange()
	if got := describe(first.Kvs); !equalStrings(got, []string{"a=0 c2 m2 v1"}) || first.Header.Revision != 2 {
		t.Errorf("read before writing: %v at %d", got, first.Header.Revision)
	}
	if put := response.Responses[1].GetResponsePut(); put.Header.Revision != 3 {
		t.Errorf("put header revision %d, want 3", put.Header.Revision)
	}
	second := response.Responses[2].GetResponseRange()
	if got := describe(second.Kvs); !equalStrings(got, []string{"a=1 c2 m3 v2"}) || second.Header.Revision != 3 {
		t.Errorf("read after writing: %v at %d", got, second.Header.Revision)
	}
	if deleted := response.Responses[4].GetResponseDeleteRange(); deleted.Deleted != 0 || deleted.Header.Revision != 3 {
		t.Errorf("delete of nothing after writes: deleted %d at %d", deleted.Deleted, deleted.Header.Revision)
	}
	nested := response.Responses[5].GetResponseTxn()
	if !nested.Succeeded {
		t.Errorf("nested compare saw the Txn's own put of b; etcd evaluates it on the state before")
	}
	sameMessage(t, "nested header", nested.Header, &pb.ResponseHeader{})
	if got := describe(nested.Responses[1].GetResponseRange().Kvs); !equalStrings(got, []string{"c=nested-success c3 m3 v1"}) {
		t.Errorf("nested read: %v", got)
	}
	all := h.get(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if got, want := describe(all.Kvs), []string{"a=1 c2 m3 v2", "b=1 c3 m3 v1", "c=nested-success c3 m3 v1"}; !equalStrings(got, want) {
		t.Errorf("after txn: %v, want %v", got, want)
	}
	failed := h.txn(&pb.TxnRequest{
		Compare: []*pb.Compare{compareOn("a", "", pb.Compare_VALUE, eq(), 0, "0")},
		Success: []*pb.RequestOp{opPut("s", "1")},
		Failure: []*pb.RequestOp{opPut("f", "1"), opDelete("a", "")},
	}).(*pb.TxnResponse)
	if failed.Succeeded || failed.Header.Revision != 4 || failed.Responses[1].GetResponseDeleteRange().Deleted != 1 {
		t.Errorf("failure branch: %v", failed)
	}
	if got := describe(h.get(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}).Kvs); !equalStrings(got, []string{"b=1 c3 m3 v1", "c=nested-success c3 m3 v1", "f=1 c4 m4 v1"}) {
		t.Errorf("after failure branch: %v", got)
	}
}

func eq() pb.Compare_CompareResult { return pb.Compare_EQUAL }

// TestTxnRefusals checks the errors of a Txn, and that a refused Txn
// writes nothing.
func TestTxnRefusals(t *testing.T) {
	h := newHarness(t, Options{MaxTxnOps: 4})
	h.put("a", "0", 0)
	puts := func(n int) []*pb.RequestOp {
		var operations []*pb.RequestOp
		for i := range n {
			operations = append(operations, opPut(string(rune('p'+i)), "v"))
		}
		return operations
	}
	cases := []struct {
		name string
		txn  *pb.TxnRequest
		want error
	}{
		{"put twice", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opPut("a", "2")}}, rpctypes.ErrGRPCDuplicateKey},
		{"put and delete", &pb.TxnRequest{Success: []*pb.RequestOp{opDelete("a", ""), opPut("a", "2")}}, rpctypes.ErrGRPCDuplicateKey},
		{"put inside a deleted interval", &pb.TxnRequest{Success: []*pb.RequestOp{opDelete("a", "c"), opPut("b", "2")}}, rpctypes.ErrGRPCDuplicateKey},
		{"nested put of an outer put", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "2")}})}}, rpctypes.ErrGRPCDuplicateKey},
		{"nested put in an outer deleted interval", &pb.TxnRequest{Success: []*pb.RequestOp{opDelete("a", "c"), opTxn(&pb.TxnRequest{Failure: []*pb.RequestOp{opPut("b", "2")}})}}, rpctypes.ErrGRPCDuplicateKey},
		{"too many compares", &pb.TxnRequest{Compare: []*pb.Compare{compareOn("a", "", pb.Compare_VERSION, eq(), 0, ""), compareOn("a", "", pb.Compare_VERSION, eq(), 0, ""), compareOn("a", "", pb.Compare_VERSION, eq(), 0, ""), compareOn("a", "", pb.Compare_VERSION, eq(), 0, ""), compareOn("a", "", pb.Compare_VERSION, eq(), 0, "")}}, rpctypes.ErrGRPCTooManyOps},
		{"too many operations", &pb.TxnRequest{Success: puts(5)}, rpctypes.ErrGRPCTooManyOps},
		{"nested Txn over what the parent left", &pb.TxnRequest{Success: append(puts(3), opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), opPut("y", "1")}}))}, rpctypes.ErrGRPCTooManyOps},
		{"empty operation", &pb.TxnRequest{Success: []*pb.RequestOp{{}}}, rpctypes.ErrGRPCKeyNotFound},
		{"empty compare key", &pb.TxnRequest{Compare: []*pb.Compare{{Target: pb.Compare_VERSION}}}, rpctypes.ErrGRPCEmptyKey},
		{"put with an unknown lease", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("n", "1"), {Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("m"), Lease: 42}}}}}, rpctypes.ErrGRPCLeaseNotFound},
		{"ignore_value of a key the Txn creates", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("n", "1"), {Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("o"), IgnoreValue: true}}}}}, rpctypes.ErrGRPCKeyNotFound},
		{"read of a future revision", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("n", "1"), {Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 3}}}}}, rpctypes.ErrGRPCFutureRev},
	}
	for _, c := range cases {
		result := h.txn(c.txn)
		if err, _ := result.(error); !errors.Is(err, c.want) {
			t.Errorf("%s: result %v, want %v", c.name, result, c.want)
		}
		if current, _ := h.store.Revision(); current != 2 {
			t.Fatalf("%s: revision moved to %d", c.name, current)
		}
	}
	allowed := []struct {
		name string
		txn  *pb.TxnRequest
	}{
		{"same key in both branches of a nested Txn", &pb.TxnRequest{Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("q", "1")}, Failure: []*pb.RequestOp{opPut("q", "2")}})}}},
		{"overlapping deletes", &pb.TxnRequest{Success: []*pb.RequestOp{opDelete("a", "c"), opDelete("b", "d")}}},
		{"delete from key on does not count as a duplicate (as etcd)", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("r", "1"), opDelete("a", "\x00")}}},
	}
	for _, c := range allowed {
		if result := h.txn(c.txn); !isResponse(result) {
			t.Errorf("%s: %v", c.name, result)
		}
	}
}
