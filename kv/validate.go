package kv

import (
	"bytes"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// ValidateRequest checks a request the way etcd's gRPC layer checks it
// before proposing: empty keys, value or lease given with ignore_value or
// ignore_lease, invalid sort options, more than maxTxnOps operations in a
// Txn (0 means 128), and a key written twice in one Txn. NewCommand runs
// it before it encodes a request to propose, and Apply again (see apply
// for why), with the same rpctypes errors; a server calls it itself only
// for what it does not propose (a Range).
func ValidateRequest(request *pb.InternalRaftRequest, maxTxnOps int) error {
	if maxTxnOps <= 0 {
		maxTxnOps = defaultMaxTxnOps
	}
	switch {
	case request.Range != nil:
		return validateRange(request.Range)
	case request.Put != nil:
		return validatePut(request.Put)
	case request.DeleteRange != nil:
		return validateDelete(request.DeleteRange)
	case request.Txn != nil:
		return validateTxn(request.Txn, maxTxnOps)
	}
	return nil
}

// validateRange checks a RangeRequest as etcd's checkRangeRequest.
func validateRange(request *pb.RangeRequest) error {
	if len(request.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(request.SortOrder)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(request.SortTarget)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

// validatePut checks a PutRequest as etcd's checkPutRequest.
func validatePut(request *pb.PutRequest) error {
	switch {
	case len(request.Key) == 0:
		return rpctypes.ErrGRPCEmptyKey
	case request.IgnoreValue && len(request.Value) != 0:
		return rpctypes.ErrGRPCValueProvided
	case request.IgnoreLease && request.Lease != 0:
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

// validateDelete checks a DeleteRangeRequest.
func validateDelete(request *pb.DeleteRangeRequest) error {
	if len(request.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	return nil
}

// validateTxn checks a Txn as etcd's API layer: operation counts and
// operations first, then puts and deletes that touch one key twice.
func validateTxn(request *pb.TxnRequest, maxTxnOps int) error {
	if err := validateTxnOperations(request, maxTxnOps); err != nil {
		return err
	}
	if _, _, err := txnWrites(request.Success); err != nil {
		return err
	}
	_, _, err := txnWrites(request.Failure)
	return err
}

// validateTxnOperations checks sizes and every operation, recursively;
// a nested Txn may use what its parent's largest list left of maxTxnOps.
func validateTxnOperations(request *pb.TxnRequest, maxTxnOps int) error {
	operations := max(len(request.Compare), len(request.Success), len(request.Failure))
	if operations > maxTxnOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, compare := range request.Compare {
		if len(compare.Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, list := range [][]*pb.RequestOp{request.Success, request.Failure} {
		for _, operation := range list {
			if err := validateOperation(operation, maxTxnOps-operations); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateOperation checks one operation of a Txn; an empty one is
// answered as etcd does, with ErrGRPCKeyNotFound.
func validateOperation(operation *pb.RequestOp, maxTxnOps int) error {
	switch {
	case operation.GetRequestRange() != nil:
		return validateRange(operation.GetRequestRange())
	case operation.GetRequestPut() != nil:
		return validatePut(operation.GetRequestPut())
	case operation.GetRequestDeleteRange() != nil:
		return validateDelete(operation.GetRequestDeleteRange())
	case operation.GetRequestTxn() != nil:
		return validateTxnOperations(operation.GetRequestTxn(), maxTxnOps)
	}
	return rpctypes.ErrGRPCKeyNotFound
}

// keyInterval is a deleted interval [begin, end); an empty end means the
// single key begin.
type keyInterval struct{ begin, end []byte }

// contains reports whether the interval covers key, with etcd's interval
// semantics: a range end "\x00" (or any end not above the key) covers
// nothing, because etcd compares it as a plain string.
func (i keyInterval) contains(key []byte) bool {
	if len(i.end) == 0 {
		return bytes.Equal(i.begin, key)
	}
	return bytes.Compare(i.begin, key) <= 0 && bytes.Compare(key, i.end) < 0
}

// coveredBy reports whether any of intervals covers key.
func coveredBy(intervals []keyInterval, key []byte) bool {
	for _, interval := range intervals {
		if interval.contains(key) {
			return true
		}
	}
	return false
}

// txnWrites returns the keys put and intervals deleted by a list of
// operations and their nested Txns, or ErrGRPCDuplicateKey when a key is
// put twice or put and deleted. It follows etcd's checkIntervals rule by
// rule, including that the success and failure branches of a nested Txn
// may put the same key, since only one of them runs.
func txnWrites(operations []*pb.RequestOp) (map[string]struct{}, []keyInterval, error) {
	var deletes []keyInterval
	for _, operation := range operations {
		if request := operation.GetRequestDeleteRange(); request != nil {
			deletes = append(deletes, keyInterval{begin: request.Key, end: request.RangeEnd})
		}
	}
	puts := make(map[string]struct{})
	for _, operation := range operations {
		nested := operation.GetRequestTxn()
		if nested == nil {
			continue
		}
		successPuts, successDeletes, err := txnWrites(nested.Success)
		if err != nil {
			return nil, nil, err
		}
		failurePuts, failureDeletes, err := txnWrites(nested.Failure)
		if err != nil {
			return nil, nil, err
		}
		for key := range successPuts {
			if _, seen := puts[key]; seen || coveredBy(deletes, []byte(key)) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[key] = struct{}{}
		}
		for key := range failurePuts {
			_, seen := puts[key]
			_, fromSuccess := successPuts[key]
			if (seen && !fromSuccess) || coveredBy(deletes, []byte(key)) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[key] = struct{}{}
		}
		deletes = append(deletes, successDeletes...)
		deletes = append(deletes, failureDeletes...)
	}
	for _, operation := range operations {
		request := operation.GetRequestPut()
		if request == nil {
			continue
		}
		key := string(request.Key)
		if _, seen := puts[key]; seen || coveredBy(deletes, request.Key) {
			return nil, nil, rpctypes.ErrGRPCDuplicateKey
		}
		puts[key] = struct{}{}
	}
	return puts, deletes, nil
}
