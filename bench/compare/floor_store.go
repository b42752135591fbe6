package main

import (
	"bytes"
	"slices"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The protocol floor's identity, as its response headers give it: one
// member that is its own leader, forever in term 1.
const (
	floorClusterID = 0xf1_00c1
	floorMemberID  = 0xf1_00a1
	floorTerm      = 1
)

// floorStore is the protocol floor's whole state: the current value of
// every key and a revision counter, under one mutex. It keeps no history,
// writes nothing to disk and replicates nothing: it is what answering
// etcd's API costs with none of the work a database does (see
// docs/benchmark-method.md). Safe for concurrent use.
type floorStore struct {
	mutex    sync.Mutex
	revision int64
	keys     map[string]*mvccpb.KeyValue
	bytes    int64                     // keys and values held, for Status
	streams  map[*floorStream]struct{} // watch streams, to notify of writes
}

func newFloorStore() *floorStore {
	// A fresh etcd store is at revision 1.
	return &floorStore{revision: 1, keys: map[string]*mvccpb.KeyValue{}, streams: map[*floorStream]struct{}{}}
}

// header returns a response header at revision.
func floorHeader(revision int64) *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: floorClusterID, MemberId: floorMemberID, Revision: revision, RaftTerm: floorTerm}
}

// unsupported is the error for a request the floor does not serve: it
// answers what the load generator sends, not all of etcd's API.
func unsupported(format string, args ...any) error {
	return status.Errorf(codes.Unimplemented, "floor: "+format, args...)
}

// inRange reports whether key lies in etcd's range [start, end): the key
// start alone when end is empty, every key from start on when end is
// "\x00".
func inRange(key, start, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(key, start)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(key, start) >= 0
	}
	return bytes.Compare(key, start) >= 0 && bytes.Compare(key, end) < 0
}

// matching returns the current key-values in [start, end), in key order.
// The caller holds the mutex.
func (s *floorStore) matching(start, end []byte) []*mvccpb.KeyValue {
	if len(end) == 0 {
		if kv, ok := s.keys[string(start)]; ok {
			return []*mvccpb.KeyValue{kv}
		}
		return nil
	}
	var found []*mvccpb.KeyValue
	for _, kv := range s.keys {
		if inRange(kv.Key, start, end) {
			found = append(found, kv)
		}
	}
	slices.SortFunc(found, func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Key, b.Key) })
	return found
}

// checkRange rejects the parts of a RangeRequest the floor does not serve.
func (s *floorStore) checkRange(request *pb.RangeRequest) error {
	switch {
	case len(request.Key) == 0:
		return rpctypes.ErrGRPCEmptyKey
	case request.Revision > s.revision:
		return rpctypes.ErrGRPCFutureRev
	case request.Revision != 0 && request.Revision != s.revision:
		return unsupported("no history is kept: revision %d is not the current one (%d)", request.Revision, s.revision)
	case request.SortOrder != pb.RangeRequest_NONE:
		return unsupported("ranges are not sorted on request")
	case request.MinModRevision != 0 || request.MaxModRevision != 0 || request.MinCreateRevision != 0 || request.MaxCreateRevision != 0:
		return unsupported("no revision filters")
	}
	return nil
}

// rangeLocked answers a RangeRequest from the current state; the caller
// holds the mutex.
func (s *floorStore) rangeLocked(request *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := s.checkRange(request); err != nil {
		return nil, err
	}
	found := s.matching(request.Key, request.RangeEnd)
	response := &pb.RangeResponse{Header: floorHeader(s.revision), Count: int64(len(found))}
	if request.CountOnly {
		return response, nil
	}
	if request.Limit > 0 && int64(len(found)) > request.Limit {
		found, response.More = found[:request.Limit], true
	}
	for _, kv := range found {
		if request.KeysOnly {
			kv = &mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
		}
		response.Kvs = append(response.Kvs, kv)
	}
	return response, nil
}

// Range answers a RangeRequest (linearizable and serializable alike: the
// floor has one copy of the data).
func (s *floorStore) Range(request *pb.RangeRequest) (*pb.RangeResponse, error) {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	return s.rangeLocked(request)
}

func checkPut(request *pb.PutRequest) error {
	switch {
	case len(request.Key) == 0:
		return rpctypes.ErrGRPCEmptyKey
	case request.Lease != 0:
		return unsupported("no leases")
	case request.IgnoreValue || request.IgnoreLease:
		return unsupported("no ignore_value or ignore_lease")
	}
	return nil
}

// putLocked writes request at revision (the caller has advanced the
// counter) and returns the response and the event; the caller holds the
// mutex.
func (s *floorStore) putLocked(request *pb.PutRequest, revision int64) (*pb.PutResponse, *mvccpb.Event) {
	previous := s.keys[string(request.Key)]
	kv := &mvccpb.KeyValue{Key: request.Key, Value: request.Value, CreateRevision: revision, ModRevision: revision, Version: 1}
	if previous != nil {
		kv.CreateRevision, kv.Version = previous.CreateRevision, previous.Version+1
		s.bytes -= int64(len(previous.Key) + len(previous.Value))
	}
	s.keys[string(request.Key)] = kv
	s.bytes += int64(len(kv.Key) + len(kv.Value))
	response := &pb.PutResponse{Header: floorHeader(revision)}
	if request.PrevKv {
		response.PrevKv = previous
	}
	// The event always carries the previous value, for the watchers that
	// ask for it (floorWatcher.shaped strips it for the others).
	return response, &mvccpb.Event{Type: mvccpb.PUT, Kv: kv, PrevKv: previous}
}

// Put writes one key at the next revision and tells the watchers.
func (s *floorStore) Put(request *pb.PutRequest) (*pb.PutResponse, error) {
	if err := checkPut(request); err != nil {
		return nil, err
	}
	s.mutex.Lock()
	defer s.mutex.Unlock()
	s.revision++
	response, event := s.putLocked(request, s.revision)
	s.notifyLocked(s.revision, []*mvccpb.Event{event})
	return response, nil
}

// deleteLocked deletes the keys of request at revision; the caller holds
// the mutex and advances the counter only if something was deleted.
func (s *floorStore) deleteLocked(request *pb.DeleteRangeRequest, revision int64) (*pb.DeleteRangeResponse, []*mvccpb.Event) {
	found := s.matching(request.Key, request.RangeEnd)
	response := &pb.DeleteRangeResponse{Header: floorHeader(revision), Deleted: int64(len(found))}
	var events []*mvccpb.Event
	for _, kv := range found {
		delete(s.keys, string(kv.Key))
		s.bytes -= int64(len(kv.Key) + len(kv.Value))
		if request.PrevKv {
			response.PrevKvs = append(response.PrevKvs, kv)
		}
		events = append(events, &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: kv.Key, ModRevision: revision}, PrevKv: kv})
	}
	return response, events
}

// DeleteRange deletes the keys in a range, at the next revision if any.
func (s *floorStore) DeleteRange(request *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if len(request.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	s.mutex.Lock()
	defer s.mutex.Unlock()
	if len(s.matching(request.Key, request.RangeEnd)) == 0 {
		return &pb.DeleteRangeResponse{Header: floorHeader(s.revision)}, nil
	}
	s.revision++
	response, events := s.deleteLocked(request, s.revision)
	s.notifyLocked(s.revision, events)
	return response, nil
}

// compare evaluates one of a transaction's comparisons against the
// current state; the caller holds the mutex.
func (s *floorStore) compare(c *pb.Compare) (bool, error) {
	if len(c.RangeEnd) != 0 {
		return false, unsupported("no comparisons over a range of keys")
	}
	kv, exists := s.keys[string(c.Key)]
	if !exists {
		if c.Target == pb.Compare_VALUE {
			return false, nil // a missing key has no value to compare
		}
		kv = &mvccpb.KeyValue{}
	}
	var order int
	switch c.Target {
	case pb.Compare_VERSION:
		order = cmpInt(kv.Version, c.GetVersion())
	case pb.Compare_CREATE:
		order = cmpInt(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		order = cmpInt(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VALUE:
		order = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_LEASE:
		order = cmpInt(kv.Lease, c.GetLease())
	default:
		return false, status.Errorf(codes.InvalidArgument, "floor: unknown compare target %v", c.Target)
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return order == 0, nil
	case pb.Compare_NOT_EQUAL:
		return order != 0, nil
	case pb.Compare_GREATER:
		return order > 0, nil
	case pb.Compare_LESS:
		return order < 0, nil
	}
	return false, status.Errorf(codes.InvalidArgument, "floor: unknown compare result %v", c.Result)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkOperations rejects a branch the floor cannot run as etcd would:
// nested transactions, unsupported puts and ranges, a key put twice.
func (s *floorStore) checkOperations(operations []*pb.RequestOp) error {
	written := map[string]bool{}
	for _, operation := range operations {
		switch request := operation.Request.(type) {
		case *pb.RequestOp_RequestPut:
			if err := checkPut(request.RequestPut); err != nil {
				return err
			}
			if written[string(request.RequestPut.Key)] {
				return rpctypes.ErrGRPCDuplicateKey
			}
			written[string(request.RequestPut.Key)] = true
		case *pb.RequestOp_RequestRange:
			if request.RequestRange.Revision != 0 {
				return unsupported("no revision in a transaction's range")
			}
			if err := s.checkRange(request.RequestRange); err != nil {
				return err
			}
		case *pb.RequestOp_RequestDeleteRange:
			if len(request.RequestDeleteRange.Key) == 0 {
				return rpctypes.ErrGRPCEmptyKey
			}
		case *pb.RequestOp_RequestTxn:
			return unsupported("no nested transactions")
		default:
			return status.Errorf(codes.InvalidArgument, "floor: empty request operation")
		}
	}
	return nil
}

// Txn evaluates the comparisons and runs one branch, atomically; all its
// writes share one new revision, as in etcd.
func (s *floorStore) Txn(request *pb.TxnRequest) (*pb.TxnResponse, error) {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	succeeded := true
	for _, c := range request.Compare {
		ok, err := s.compare(c)
		if err != nil {
			return nil, err
		}
		succeeded = succeeded && ok
	}
	branch := request.Failure
	if succeeded {
		branch = request.Success
	}
	if err := s.checkOperations(branch); err != nil {
		return nil, err
	}
	revision := s.revision
	writes := slices.ContainsFunc(branch, func(operation *pb.RequestOp) bool {
		if deletion := operation.GetRequestDeleteRange(); deletion != nil {
			return len(s.matching(deletion.Key, deletion.RangeEnd)) > 0
		}
		return operation.GetRequestPut() != nil
	})
	if writes {
		revision++
	}
	response := &pb.TxnResponse{Succeeded: succeeded}
	var events []*mvccpb.Event
	for _, operation := range branch {
		switch request := operation.Request.(type) {
		case *pb.RequestOp_RequestPut:
			put, event := s.putLocked(request.RequestPut, revision)
			events = append(events, event)
			response.Responses = append(response.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: put}})
		case *pb.RequestOp_RequestDeleteRange:
			deleted, deletions := s.deleteLocked(request.RequestDeleteRange, revision)
			events = append(events, deletions...)
			response.Responses = append(response.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: deleted}})
		case *pb.RequestOp_RequestRange:
			// Reads see the branch's earlier writes; the revision they
			// name is the transaction's.
			saved := s.revision
			s.revision = revision
			read, err := s.rangeLocked(request.RequestRange)
			s.revision = saved
			if err != nil {
				return nil, err // checked beforehand; cannot happen
			}
			response.Responses = append(response.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: read}})
		}
	}
	s.revision = revision
	response.Header = floorHeader(revision)
	for _, sub := range response.Responses {
		// As in etcd, every response in a transaction carries its revision.
		switch r := sub.Response.(type) {
		case *pb.ResponseOp_ResponsePut:
			r.ResponsePut.Header = floorHeader(revision)
		case *pb.ResponseOp_ResponseDeleteRange:
			r.ResponseDeleteRange.Header = floorHeader(revision)
		case *pb.ResponseOp_ResponseRange:
			r.ResponseRange.Header = floorHeader(revision)
		}
	}
	if len(events) > 0 {
		s.notifyLocked(revision, events)
	}
	return response, nil
}

// Status is the floor's Maintenance.Status: a leader of itself.
func (s *floorStore) Status() *pb.StatusResponse {
	s.mutex.Lock()
	defer s.mutex.Unlock()
	return &pb.StatusResponse{
		Header: floorHeader(s.revision), Version: floorVersion, DbSize: s.bytes, DbSizeInUse: s.bytes,
		Leader: floorMemberID, RaftIndex: uint64(s.revision), RaftTerm: floorTerm, RaftAppliedIndex: uint64(s.revision),
	}
}

// floorVersion is the version the floor reports in Status: not etcd's, so
// that nothing mistakes it for a server.
const floorVersion = "0.0.0-floor"
