package server

import (
	"context"
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// TestClientsMayPingEveryTenSeconds: a client that sends keepalive pings
// as often as gRPC lets it (every 10 s; Kubernetes' API server pings its
// etcd every 30 s) keeps its connection and its watch. With gRPC's own
// server default (pings at most every 5 minutes) the server answered the
// third ping with GOAWAY too_many_pings and the watch broke after about
// 30 s; etcd, and now lockstep, tolerate a ping every 5 s. It takes 35 s.
func TestClientsMayPingEveryTenSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 35 s for the client's pings")
	}
	cluster := startCluster(t, 1, nil)
	conn, err := grpc.NewClient("passthrough:///"+cluster.endpoint(0), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancel()
	stream, err := pb.NewWatchClient(conn).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte("k")}}}); err != nil {
		t.Fatal(err)
	}
	if created, err := stream.Recv(); err != nil || !created.Created {
		t.Fatalf("watch creation: %v, %v", created, err)
	}
	_, err = stream.Recv() // nothing is written: it returns when the stream ends
	if code := status.Code(err); code != codes.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the watch ended before its deadline: %v (the server cut off a client that pings every 10 s)", err)
	}
}
