package server

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMemberAddPromoteRemove adds a learner with MemberAdd, starts it with
// --initial-cluster-state existing (it learns its ID from the cluster),
// promotes it once it has caught up, and removes an original member.
func TestMemberAddPromoteRemove(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	client := cluster.client(cluster.endpoint(cluster.follower()))
	for i := range 20 {
		if _, err := client.Put(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	added, err := client.MemberAddAsLearner(ctx, []string{peerURL})
	if err != nil {
		t.Fatal(err)
	}
	if !added.Member.IsLearner || len(added.Members) != 4 {
		t.Fatalf("member add: %+v", added)
	}
	if _, err := client.MemberAdd(ctx, []string{peerURL}); !errors.Is(err, rpctypes.ErrPeerURLExist) {
		t.Fatalf("adding the same peer URL again: %v", err)
	}
	// Promoting a learner that has not started yet is refused.
	if _, err := client.MemberPromote(ctx, added.Member.ID); !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) {
		t.Fatalf("promote before catching up: %v", err)
	}

	config := cluster.configs[0]
	config.Name = "m4"
	config.DataDirectory = filepath.Join(cluster.dir, "m4")
	config.ListenClientURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
	config.ListenPeerURLs, config.AdvertisePeerURLs, config.AdvertiseClientURLs = []string{peerURL}, nil, nil
	config.InitialCluster = map[string][]string{"m4": {peerURL}}
	for i, other := range cluster.configs {
		config.InitialCluster[other.Name] = cluster.configs[i].ListenPeerURLs
	}
	config.InitialClusterState = "existing"
	config.Logger = testLogger(t).With("test-member", "m4")
	cluster.configs = append(cluster.configs, config)
	cluster.members = append(cluster.members, nil)
	cluster.start(3)
	if cluster.members[3].ID() != added.Member.ID {
		t.Fatalf("the new member took ID %x, MemberAdd chose %x", cluster.members[3].ID(), added.Member.ID)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := client.MemberPromote(ctx, added.Member.ID)
		if err == nil {
			break
		}
		if !errors.Is(err, rpctypes.ErrMemberLearnerNotReady) || time.Now().After(deadline) {
			t.Fatalf("promote: %v", err)
		}
		time.Sleep(testElection) // polling until the learner catches up, bounded by the deadline
	}
	newcomer := cluster.client(cluster.endpoint(3))
	cluster.addVoterMember(t)
	get, err := newcomer.Get(ctx, "k", clientv3.WithPrefix())
	if err != nil || len(get.Kvs) != 20 {
		t.Fatalf("new member reads %d keys (%v), want 20", len(get.Kvs), err)
	}

	removed := cluster.members[0].ID()
	list, err := newcomer.MemberRemove(ctx, removed)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Members) != 4 { // m2, m3, m4 and the voter m5
		t.Fatalf("after removal: %+v", list.Members)
	}
	members, err := newcomer.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, member := range members.Members {
		if member.ID == removed {
			t.Fatalf("removed member %x still listed", removed)
		}
		if member.IsLearner || member.Name == "" || len(member.ClientURLs) == 0 {
			t.Fatalf("member listed as %+v", member)
		}
	}
}

// addVoterMember adds a fifth member as a voter (etcdctl member add
// without --learner), starts it, and waits until the leader has promoted
// it on its own once caught up.
func (c *testCluster) addVoterMember(t *testing.T) {
	t.Helper()
	ctx := testContext(t)
	client := c.client()
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	added, err := client.MemberAdd(ctx, []string{peerURL})
	if err != nil {
		t.Fatal(err)
	}
	if added.Member.IsLearner {
		t.Fatalf("member added as a voter reported as a learner: %+v", added.Member)
	}
	config := c.configs[0]
	config.Name = fmt.Sprintf("m%d", len(c.configs)+1)
	config.DataDirectory = filepath.Join(c.dir, config.Name)
	config.ListenClientURLs = []string{"http://127.0.0.1:0"}
	config.ListenPeerURLs, config.AdvertisePeerURLs, config.AdvertiseClientURLs = []string{peerURL}, nil, nil
	config.InitialCluster = map[string][]string{config.Name: {peerURL}}
	for _, other := range c.configs {
		config.InitialCluster[other.Name] = other.ListenPeerURLs
	}
	config.InitialClusterState = "existing"
	config.Logger = testLogger(t).With("test-member", config.Name)
	c.configs = append(c.configs, config)
	c.members = append(c.members, nil)
	c.start(len(c.configs) - 1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		members, err := client.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, member := range members.Members {
			if member.ID == added.Member.ID && !member.IsLearner {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("voter %x still a learner after 30 s", added.Member.ID)
		}
		time.Sleep(testElection) // polling the cluster, bounded by the deadline
	}
}

// TestMemberListForJoinersIsLinearizable: the member list a joining member
// learns its ID from (publishedInfo, on the peer port) is given only by a
// member that has passed a read barrier, so it holds every membership
// change committed before the question. A member that cannot (here, cut
// off from the others' quorum) answers nothing, and the joiner asks
// another; before, a lagging member listed a member removed since at the
// URL where its successor had just been added, the successor took the
// removed member's ID and the cluster refused it for good (a one-hour
// lockstep check soak).
func TestMemberListForJoinersIsLinearizable(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	leader := cluster.leader()
	if info := cluster.members[leader].publishedInfo(); len(info) == 0 {
		t.Fatal("the leader of a healthy cluster published no member list")
	}
	alone := (leader + 1) % 3
	for i := range 3 {
		if i != alone {
			cluster.kill(i)
		}
	}
	if info := cluster.members[alone].publishedInfo(); len(info) != 0 {
		t.Fatalf("a member without a quorum published its member list, which may be stale: %s", info)
	}
}
