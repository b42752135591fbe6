package kv

import (
	"bytes"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// txnPlan is the outcome of a Txn's compares, and of the compares of each
// nested Txn in the branch taken, in order. As etcd, every compare (nested
// ones too) is evaluated on the state before the Txn.
type txnPlan struct {
	succeeded bool
	nested    []*txnPlan
}

// operations returns the branch the plan takes.
func (p *txnPlan) operations(request *pb.TxnRequest) []*pb.RequestOp {
	if p.succeeded {
		return request.Success
	}
	return request.Failure
}

// applyTxn applies a Txn: compares, then checks, then the operations of
// the branch taken, all in one revision.
func (a *applier) applyTxn(request *pb.TxnRequest) (*pb.TxnResponse, error) {
	switch {
	case a.corrupt:
		return nil, rpctypes.ErrGRPCCorrupt
	case a.noSpace && TxnHasPuts(request):
		return nil, rpctypes.ErrGRPCNoSpace
	}
	plan := a.planTxn(request)
	if err := a.checkTxn(request, plan); err != nil {
		return nil, err
	}
	write := a.beginWrite(true)
	response := write.executeTxn(request, plan)
	write.end()
	response.Header = &pb.ResponseHeader{Revision: a.state.revision}
	return response, nil
}

// TxnHasPuts reports whether any branch of a Txn, nested ones included,
// puts a key: what etcd refuses while a NOSPACE alarm is active, and what
// its quota check counts (a Txn that only reads or deletes passes it).
func TxnHasPuts(request *pb.TxnRequest) bool {
	for _, list := range [][]*pb.RequestOp{request.Success, request.Failure} {
		for _, operation := range list {
			if operation.GetRequestPut() != nil {
				return true
			}
			if nested := operation.GetRequestTxn(); nested != nil && TxnHasPuts(nested) {
				return true
			}
		}
	}
	return false
}

// planTxn evaluates the compares of a Txn and of the nested Txns in the
// branch it takes.
func (a *applier) planTxn(request *pb.TxnRequest) *txnPlan {
	plan := &txnPlan{succeeded: true}
	for _, compare := range request.Compare {
		if !a.compare(compare) {
			plan.succeeded = false
			break
		}
	}
	for _, operation := range plan.operations(request) {
		if nested := operation.GetRequestTxn(); nested != nil {
			plan.nested = append(plan.nested, a.planTxn(nested))
		}
	}
	return plan
}

// compare evaluates one compare over its key or interval: true when every
// key there satisfies it. With no key there, the compare is made against
// zero values, except that a VALUE compare is false.
func (a *applier) compare(compare *pb.Compare) bool {
	live, err := collectCurrent(a.batch, compare.Key, rangeEnd(compare.RangeEnd), collectOptions{withValues: compare.Target == pb.Compare_VALUE})
	a.must(err)
	if len(live.keyValues) == 0 {
		if compare.Target == pb.Compare_VALUE {
			return false
		}
		return compareKeyValue(compare, &mvccpb.KeyValue{})
	}
	for _, keyValue := range live.keyValues {
		if !compareKeyValue(compare, keyValue) {
			return false
		}
	}
	return true
}

// compareKeyValue applies a compare's target and result to one key-value.
func compareKeyValue(compare *pb.Compare, keyValue *mvccpb.KeyValue) bool {
	var result int
	switch compare.Target {
	case pb.Compare_VALUE:
		result = bytes.Compare(keyValue.Value, compare.GetValue())
	case pb.Compare_CREATE:
		result = compareNumbers(keyValue.CreateRevision, compare.GetCreateRevision())
	case pb.Compare_MOD:
		result = compareNumbers(keyValue.ModRevision, compare.GetModRevision())
	case pb.Compare_VERSION:
		result = compareNumbers(keyValue.Version, compare.GetVersion())
	case pb.Compare_LEASE:
		result = compareNumbers(keyValue.Lease, compare.GetLease())
	}
	switch compare.Result {
	case pb.Compare_EQUAL:
		return result == 0
	case pb.Compare_NOT_EQUAL:
		return result != 0
	case pb.Compare_GREATER:
		return result > 0
	case pb.Compare_LESS:
		return result < 0
	}
	return true
}

func compareNumbers(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkTxn checks the operations of the branches taken against the state
// before the Txn, as etcd: read revisions, leases of puts, and keys that
// ignore_value and ignore_lease need.
func (a *applier) checkTxn(request *pb.TxnRequest, plan *txnPlan) error {
	nested := plan.nested
	for _, operation := range plan.operations(request) {
		var err error
		switch op := operation.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			err = a.checkTxnRange(op.RequestRange)
		case *pb.RequestOp_RequestPut:
			err = a.checkPut(op.RequestPut)
		case *pb.RequestOp_RequestTxn:
			err = a.checkTxn(op.RequestTxn, nested[0])
			nested = nested[1:]
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkTxnRange checks a read revision inside a Txn; unlike a plain Range,
// etcd compares any non-zero revision (negative ones too) with the
// compacted revision here.
func (a *applier) checkTxnRange(request *pb.RangeRequest) error {
	switch {
	case request.Revision == 0:
		return nil
	case request.Revision > a.state.revision:
		return rpctypes.ErrGRPCFutureRev
	case request.Revision < a.state.compacted:
		return rpctypes.ErrGRPCCompacted
	}
	return nil
}

// executeTxn runs the operations of the branch taken. Reads see the
// transaction's earlier writes. As etcd, a nested Txn's response has an
// empty header, and the other responses carry the revision they saw.
func (w *writeTransaction) executeTxn(request *pb.TxnRequest, plan *txnPlan) *pb.TxnResponse {
	operations := plan.operations(request)
	response := &pb.TxnResponse{Succeeded: plan.succeeded, Responses: make([]*pb.ResponseOp, len(operations))}
	nested := plan.nested
	for i, operation := range operations {
		result := &pb.ResponseOp{}
		switch op := operation.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			rangeResponse, err := executeRange(w.applier.batch, op.RequestRange, w.revision(), w.applier.state.compacted)
			w.applier.must(err)
			result.Response = &pb.ResponseOp_ResponseRange{ResponseRange: rangeResponse}
		case *pb.RequestOp_RequestPut:
			result.Response = &pb.ResponseOp_ResponsePut{ResponsePut: w.put(op.RequestPut)}
		case *pb.RequestOp_RequestDeleteRange:
			result.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: w.deleteRange(op.RequestDeleteRange)}
		case *pb.RequestOp_RequestTxn:
			inner := w.executeTxn(op.RequestTxn, nested[0])
			inner.Header = &pb.ResponseHeader{}
			nested = nested[1:]
			result.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: inner}
		}
		response.Responses[i] = result
	}
	return response
}
