package kv

import (
	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/membershippb"
	"google.golang.org/protobuf/proto"
)

// MemberAttributes are the attributes a member published through
// ClusterMemberAttrSet.
type MemberAttributes struct {
	Name       string
	ClientURLs []string
}

// applyMemberAttributes stores the attributes a member published. The
// attributes of a member later removed stay: a server lists only current
// members.
func (a *applier) applyMemberAttributes(request *membershippb.ClusterMemberAttrSetRequest) {
	attributes := request.MemberAttributes
	if attributes == nil {
		attributes = &membershippb.Attributes{}
	}
	encoded, err := proto.MarshalOptions{Deterministic: true}.Marshal(attributes)
	a.must(err)
	a.must(a.batch.Set(memberKey(request.Member_ID), encoded, nil))
}

// MemberAttributes returns every member's published attributes by member
// ID. Callable from any goroutine; nil on a closed store.
func (s *Store) MemberAttributes() map[uint64]MemberAttributes {
	view, err := s.openView()
	if err != nil {
		return nil
	}
	defer view.close()
	lower, upper := tableBounds(memberPrefix)
	iterator, err := view.snapshot.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil
	}
	defer iterator.Close()
	members := make(map[uint64]MemberAttributes)
	for valid := iterator.First(); valid; valid = iterator.Next() {
		id, err := parseMemberKey(iterator.Key())
		if err != nil {
			continue
		}
		attributes := &membershippb.Attributes{}
		if proto.Unmarshal(iterator.Value(), attributes) != nil {
			continue
		}
		members[id] = MemberAttributes{Name: attributes.Name, ClientURLs: attributes.ClientUrls}
	}
	return members
}
