package server

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// The checks etcd makes before a request reaches Raft, with its errors.

func checkRange(request *pb.RangeRequest) error {
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

func checkPut(request *pb.PutRequest) error {
	if len(request.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if request.IgnoreValue && len(request.Value) != 0 {
		return rpctypes.ErrGRPCValueProvided
	}
	if request.IgnoreLease && request.Lease != 0 {
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

// checkTxn checks a Txn and the Txns nested in it: operation counts per
// branch and the checks of each operation.
func checkTxn(request *pb.TxnRequest, maxOps int) error {
	if len(request.Compare) > maxOps || len(request.Success) > maxOps || len(request.Failure) > maxOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, compare := range request.Compare {
		if len(compare.Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, branch := range [][]*pb.RequestOp{request.Success, request.Failure} {
		for _, op := range branch {
			if err := checkOp(op, maxOps); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkOp(op *pb.RequestOp, maxOps int) error {
	switch request := op.Request.(type) {
	case *pb.RequestOp_RequestRange:
		return checkRange(request.RequestRange)
	case *pb.RequestOp_RequestPut:
		return checkPut(request.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		if len(request.RequestDeleteRange.Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
		return nil
	case *pb.RequestOp_RequestTxn:
		return checkTxn(request.RequestTxn, maxOps)
	default:
		return rpctypes.ErrGRPCKeyNotFound
	}
}

// txnWrites reports whether any branch of the Txn may write.
func txnWrites(request *pb.TxnRequest) bool {
	for _, branch := range [][]*pb.RequestOp{request.Success, request.Failure} {
		for _, op := range branch {
			switch nested := op.Request.(type) {
			case *pb.RequestOp_RequestPut, *pb.RequestOp_RequestDeleteRange:
				return true
			case *pb.RequestOp_RequestTxn:
				if txnWrites(nested.RequestTxn) {
					return true
				}
			}
		}
	}
	return false
}
