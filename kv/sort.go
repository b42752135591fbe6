package kv

import (
	"bytes"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// sortKeyValues orders a range's key-values as the request asks. Sort
// order NONE with a target other than KEY means ASCEND. The sort is
// sort.Sort over the key-ordered collection, like etcd's, so that equal
// elements end up in the same order as etcd returns them.
func sortKeyValues(keyValues []*mvccpb.KeyValue, request *pb.RangeRequest) {
	order := request.SortOrder
	if request.SortTarget != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if order == pb.RangeRequest_NONE || (request.SortTarget == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND) {
		return
	}
	sorter := keyValueSorter{keyValues: keyValues, target: request.SortTarget}
	if order == pb.RangeRequest_DESCEND {
		sort.Sort(sort.Reverse(sorter))
		return
	}
	sort.Sort(sorter)
}

// keyValueSorter sorts key-values by one target field.
type keyValueSorter struct {
	keyValues []*mvccpb.KeyValue
	target    pb.RangeRequest_SortTarget
}

func (s keyValueSorter) Len() int { return len(s.keyValues) }
func (s keyValueSorter) Swap(i, j int) {
	s.keyValues[i], s.keyValues[j] = s.keyValues[j], s.keyValues[i]
}

func (s keyValueSorter) Less(i, j int) bool {
	a, b := s.keyValues[i], s.keyValues[j]
	switch s.target {
	case pb.RangeRequest_VERSION:
		return a.Version < b.Version
	case pb.RangeRequest_CREATE:
		return a.CreateRevision < b.CreateRevision
	case pb.RangeRequest_MOD:
		return a.ModRevision < b.ModRevision
	case pb.RangeRequest_VALUE:
		return bytes.Compare(a.Value, b.Value) < 0
	default:
		return bytes.Compare(a.Key, b.Key) < 0
	}
}
