package kv

import (
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
	members := make(map[uint64]MemberAttributes)
	scanTable(view.snapshot, "members", memberPrefix, func(key, value []byte) error {
		id, err := parseMemberKey(key)
		attributes := &membershippb.Attributes{}
		if err == nil {
			err = proto.Unmarshal(value, attributes)
		}
		if err == nil {
			members[id] = MemberAttributes{Name: attributes.Name, ClientURLs: attributes.ClientUrls}
		}
		return err
	}) // a damaged entry ends the map there
	return members
}
