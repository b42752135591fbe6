package kv

import (
	"bytes"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// firstChunkKeys is the most key-values a stream's first chunk holds, as
// etcd 3.7's initialStreamChunkLimit.
const firstChunkKeys = 10

// The errors etcd 3.7 answers a RangeStream request whose options would
// need the whole result in memory before the first chunk.
var (
	ErrGRPCStreamSortOrder       = status.Error(codes.Unimplemented, "RangeStream does not support custom sort orders")
	ErrGRPCStreamRevisionFilters = status.Error(codes.Unimplemented, "RangeStream does not support revision filters")
)

// ValidateRangeStream checks a RangeStream request as etcd 3.7's
// checkRangeStreamRequest: Range's checks (ErrGRPCEmptyKey,
// ErrGRPCInvalidSortOption), then ErrGRPCStreamSortOrder for any order
// other than by key ascending, then ErrGRPCStreamRevisionFilters for min/max
// create/mod revisions.
//
// One case is stricter than etcd: a sort target other than KEY with order
// NONE. Range sorts that ascending by the target; etcd 3.7.3 accepts it in
// a stream but sorts each chunk on its own and resumes after the chunk's
// last key by that order, so keys repeat or go missing once the result
// spans two chunks. It is a custom sort order and is refused as one.
func ValidateRangeStream(request *pb.RangeRequest) error {
	if err := validateRange(request); err != nil {
		return err
	}
	if request.SortTarget != pb.RangeRequest_KEY || !isDefaultOrdering(request) {
		return ErrGRPCStreamSortOrder
	}
	if hasRevisionFilters(request) {
		return ErrGRPCStreamRevisionFilters
	}
	return nil
}

// RangeStream reads a range in chunks, as etcd 3.7's KV.RangeStream: every
// chunk is read at one revision (the request's, or else the store's
// current revision when the first chunk is read), so writes made while the
// stream runs do not show. Concatenating the chunks' key-values gives
// Range's at that revision; only the last chunk carries the header
// (revision only: the store's current revision when the first chunk was
// read, as Range's), more and count. A compaction above the stream's
// revision while it runs makes the next chunk fail with ErrGRPCCompacted,
// as in etcd.
//
// Chunks follow etcd's rule, so they hold the same keys as etcd's for the
// same data: the first holds at most 10 key-values; each next one's key
// limit is the previous one's doubled when that chunk (measured as etcd
// does, with its header revision and collected count) was under half the
// target size, halved when over twice, else kept. Each chunk is read on
// its own, up to its limit and one key more (to tell "more"), so memory
// stays bounded by a chunk whatever the range's size.
//
// A RangeStream is not safe for concurrent use.
type RangeStream struct {
	store   *Store
	request *pb.RangeRequest
	// key is where the next chunk starts.
	key []byte
	// limit is the request's limit, 0 for none.
	limit int64
	// chunkLimit is the next chunk's key limit.
	chunkLimit int64
	// targetBytes is the size chunks aim at.
	targetBytes int
	// started reports that the first chunk was read.
	started bool
	// revision is the revision read, fixed by the first chunk.
	revision int64
	// headerRevision is the store's revision when the first chunk was
	// read.
	headerRevision int64
	// sent is how many key-values the chunks so far held.
	sent int64
	done bool
}

// NewRangeStream checks request with ValidateRangeStream and returns a
// stream of its chunks, which aim at targetBytes each; it reads nothing
// yet. A negative limit means none, as in Range (etcd 3.7.3 answers that
// in one unbounded chunk; this stream keeps chunking it).
func (s *Store) NewRangeStream(request *pb.RangeRequest, targetBytes int) (*RangeStream, error) {
	if err := ValidateRangeStream(request); err != nil {
		return nil, err
	}
	stream := &RangeStream{
		store:       s,
		request:     proto.CloneOf(request),
		key:         bytes.Clone(request.Key),
		limit:       max(request.Limit, 0),
		chunkLimit:  firstChunkKeys,
		targetBytes: targetBytes,
	}
	if stream.limit > 0 {
		stream.chunkLimit = min(stream.chunkLimit, stream.limit)
	}
	return stream, nil
}

// Next reads the next chunk. The last chunk is the one with a header;
// after it Next returns io.EOF. An error ends the stream: errors are
// Range's (ErrGRPCCompacted, ErrGRPCFutureRev) or the store's.
func (r *RangeStream) Next() (*pb.RangeResponse, error) {
	if r.done {
		return nil, io.EOF
	}
	view, err := r.store.openView()
	if err != nil {
		return nil, err
	}
	defer view.close()
	chunk, err := r.next(view)
	if err != nil {
		r.done = true
		return nil, err
	}
	return chunk, nil
}

// next reads the next chunk from view.
func (r *RangeStream) next(view *view) (*pb.RangeResponse, error) {
	current := view.state.revision
	if r.request.CountOnly {
		// One chunk, Range's count: etcd counts without streaming.
		response, err := executeRange(view.snapshot, r.request, current, view.state.compacted)
		if err != nil {
			return nil, err
		}
		r.done = true
		return &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: current}, Count: response.Count}, nil
	}
	if !r.started {
		if err := checkRevision(r.request.Revision, current, view.state.compacted); err != nil {
			return nil, err
		}
		r.started, r.headerRevision, r.revision = true, current, r.request.Revision
		if r.revision <= 0 {
			r.revision = current
		}
	} else if err := checkRevision(r.revision, current, view.state.compacted); err != nil {
		return nil, err
	}
	end := rangeEnd(r.request.RangeEnd)
	options := collectOptions{limit: r.chunkLimit + 1, stopAtLimit: true, withValues: !r.request.KeysOnly}
	result, err := collectKeys(view.snapshot, r.key, end, r.revision, current, options)
	if err != nil {
		return nil, err
	}
	keyValues := result.keyValues
	more := int64(len(keyValues)) > r.chunkLimit
	if more {
		keyValues = keyValues[:r.chunkLimit]
	}
	if r.request.KeysOnly {
		stripValues(keyValues)
	}
	r.sent += int64(len(keyValues))
	chunk := &pb.RangeResponse{Kvs: keyValues}
	var nextKey []byte
	if more {
		nextKey = append(bytes.Clone(keyValues[len(keyValues)-1].Key), 0)
	}
	if !more || (r.limit > 0 && r.sent == r.limit) {
		r.done = true
		chunk.Header = &pb.ResponseHeader{Revision: r.headerRevision}
		chunk.More = more
		chunk.Count = r.sent
		if more {
			rest, err := collectKeys(view.snapshot, nextKey, end, r.revision, current, collectOptions{countOnly: true})
			if err != nil {
				return nil, err
			}
			chunk.Count += rest.count
		}
		return chunk, nil
	}
	// etcd sizes the chunk as its plain range answered it: the header
	// with the current revision, and a count of the key-values read.
	measured := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: current}, Kvs: keyValues, More: more, Count: result.count}
	r.chunkLimit = nextChunkLimit(r.chunkLimit, proto.Size(measured), r.targetBytes)
	if r.limit > 0 {
		r.chunkLimit = min(r.chunkLimit, r.limit-r.sent)
	}
	r.key = nextKey
	return chunk, nil
}

// stripValues turns key-values into keys-only ones: no value, and no lease,
// as etcd answers keys-only reads from its index, which knows no leases.
func stripValues(keyValues []*mvccpb.KeyValue) {
	for _, keyValue := range keyValues {
		keyValue.Value, keyValue.Lease = nil, 0
	}
}

// nextChunkLimit is the key limit of the chunk after one of limit keys and
// size bytes: doubled under half the target, halved over twice the target
// (the band between keeps a size near the target from flapping), at least
// one key.
func nextChunkLimit(limit int64, size, targetBytes int) int64 {
	switch {
	case size < targetBytes/2:
		limit *= 2
	case size > targetBytes*2:
		limit /= 2
	}
	return max(limit, 1)
}
