package server

import (
	"context"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/internal/poll"
)

// TestMembersPublishOverThePeerPort: every member's name and client URLs
// reach every member's list (the followers' through the leader, asked over
// the peer port), and the client port no longer takes the internal
// Publish call with which any client could change them.
func TestMembersPublishOverThePeerPort(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	for _, member := range cluster.members {
		poll.Until(t, "every member's attributes published", func() bool {
			attributes := member.store.MemberAttributes()
			for j, other := range cluster.members {
				published, ok := attributes[uint64(other.ID())]
				if !ok || published.Name != cluster.configs[j].Name || len(published.ClientURLs) == 0 {
					return false
				}
			}
			return true
		})
	}

	conn, err := grpc.NewClient("passthrough:///"+cluster.endpoint(cluster.leader()), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	forged := &pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
		Member_ID:        uint64(cluster.members[0].ID()),
		MemberAttributes: &membershippb.Attributes{Name: "m1", ClientUrls: []string{"http://attacker.example:2379"}},
	}}
	err = conn.Invoke(ctx, "/lockstep.server.Internal/Publish", forged, &pb.ResponseHeader{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("the client port's internal Publish: %v, want Unimplemented", err)
	}
	if _, err := cluster.members[0].answerPublish(context.Background(), []byte{0xff}); err == nil {
		t.Error("a malformed publish query was taken")
	}
}
