package kv

import (
	"math"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Range answers an etcd RangeRequest from the store's current state, or
// from the past when request.Revision > 0. Callable from any goroutine;
// the answer reflects one consistent point in time. Errors are etcd's:
// ErrGRPCEmptyKey, ErrGRPCInvalidSortOption, ErrGRPCCompacted,
// ErrGRPCFutureRev. The header carries only the revision.
func (s *Store) Range(request *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := validateRange(request); err != nil {
		return nil, err
	}
	view, err := s.openView()
	if err != nil {
		return nil, err
	}
	defer view.close()
	return executeRange(view.snapshot, request, view.state.revision, view.state.compacted)
}

// rangeEnd turns a request's range_end into collectKeys' form: nil for a
// single key.
func rangeEnd(end []byte) []byte {
	if len(end) == 0 {
		return nil
	}
	return end
}

// checkRevision checks a read revision against the reader's current and
// compacted revisions, as etcd's read checks.
func checkRevision(revision, current, compacted int64) error {
	switch {
	case revision > current:
		return rpctypes.ErrGRPCFutureRev
	case revision > 0 && revision < compacted:
		return rpctypes.ErrGRPCCompacted
	}
	return nil
}

// executeRange runs a range on reader, whose current revision is current:
// collect, filter by revisions, sort, cut at the limit, as etcd does.
func executeRange(reader pebble.Reader, request *pb.RangeRequest, current, compacted int64) (*pb.RangeResponse, error) {
	if err := checkRevision(request.Revision, current, compacted); err != nil {
		return nil, err
	}
	revision := request.Revision
	if revision <= 0 {
		revision = current
	}
	options := collectOptions{
		limit:      collectLimit(request),
		countOnly:  request.CountOnly,
		withValues: !request.KeysOnly || request.SortTarget == pb.RangeRequest_VALUE,
	}
	result, err := collectKeys(reader, request.Key, rangeEnd(request.RangeEnd), revision, current, options)
	if err != nil {
		return nil, err
	}
	keyValues := filterByRevisions(result.keyValues, request)
	sortKeyValues(keyValues, request)
	response := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: current}, Count: result.count}
	if request.Limit > 0 && int64(len(keyValues)) > request.Limit {
		keyValues = keyValues[:request.Limit]
		response.More = true
	}
	if request.KeysOnly {
		// etcd answers keys-only reads not sorted by value from its
		// in-memory index, which knows no leases: they come back as 0.
		fromIndex := request.SortTarget != pb.RangeRequest_VALUE
		for _, keyValue := range keyValues {
			keyValue.Value = nil
			if fromIndex {
				keyValue.Lease = 0
			}
		}
	}
	response.Kvs = keyValues
	return response, nil
}

// collectLimit is how many key-values to collect: all of them when
// sorting or filtering comes first, else one more than the limit so that
// "more" can be told.
func collectLimit(request *pb.RangeRequest) int64 {
	if !isDefaultOrdering(request) || hasRevisionFilters(request) {
		return 0
	}
	if request.Limit > 0 && request.Limit < math.MaxInt64 {
		return request.Limit + 1
	}
	return request.Limit
}

// isDefaultOrdering reports whether the request's order is the key order
// results are collected in.
func isDefaultOrdering(request *pb.RangeRequest) bool {
	return request.SortOrder == pb.RangeRequest_NONE ||
		(request.SortTarget == pb.RangeRequest_KEY && request.SortOrder == pb.RangeRequest_ASCEND)
}

// hasRevisionFilters reports whether the request filters by create or mod
// revision.
func hasRevisionFilters(request *pb.RangeRequest) bool {
	return request.MinModRevision != 0 || request.MaxModRevision != 0 ||
		request.MinCreateRevision != 0 || request.MaxCreateRevision != 0
}

// filterByRevisions drops the key-values outside the request's min/max
// create and mod revisions (0 means no bound).
func filterByRevisions(keyValues []*mvccpb.KeyValue, request *pb.RangeRequest) []*mvccpb.KeyValue {
	if !hasRevisionFilters(request) {
		return keyValues
	}
	kept := keyValues[:0]
	for _, keyValue := range keyValues {
		switch {
		case request.MaxModRevision != 0 && keyValue.ModRevision > request.MaxModRevision:
		case request.MinModRevision != 0 && keyValue.ModRevision < request.MinModRevision:
		case request.MaxCreateRevision != 0 && keyValue.CreateRevision > request.MaxCreateRevision:
		case request.MinCreateRevision != 0 && keyValue.CreateRevision < request.MinCreateRevision:
		default:
			kept = append(kept, keyValue)
		}
	}
	return kept
}
