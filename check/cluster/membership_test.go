package cluster

import (
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestAddedMemberIsNotTheRemovedOne: after a member is removed and added
// back at the same peer URL, a lagging member's list may show both, or
// only the removed one; the added member is the other ID, never the
// removed one (a one-hour soak restarted member-5 with its removed ID,
// which the cluster refused for good).
func TestAddedMemberIsNotTheRemovedOne(t *testing.T) {
	const url = "http://127.0.0.1:33225"
	removed := &etcdserverpb.Member{ID: 0x17ac, Name: "member-5", PeerURLs: []string{url}}
	added := &etcdserverpb.Member{ID: 0x636d, PeerURLs: []string{url}}
	other := &etcdserverpb.Member{ID: 0x29ae, Name: "member-4", PeerURLs: []string{"http://127.0.0.1:33179"}}

	members, id, found := addedMember([]*etcdserverpb.Member{removed, other, added}, url, removed.ID)
	if !found || id != added.ID {
		t.Fatalf("both at the URL: found %v, id %x; want the added %x", found, id, added.ID)
	}
	if len(members) != 2 {
		t.Fatalf("the list keeps %d members, want the removed one left out", len(members))
	}
	if _, _, found := addedMember([]*etcdserverpb.Member{removed, other}, url, removed.ID); found {
		t.Fatal("a list showing only the removed member gave it as the added one")
	}
	if _, id, found := addedMember([]*etcdserverpb.Member{other, added}, url, 0); !found || id != added.ID {
		t.Fatalf("removed ID unknown: found %v, id %x", found, id)
	}
}
