package main

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// startFloor serves a fresh floor on a loopback port for the test and
// returns a client of it.
func startFloor(t *testing.T) *clientv3.Client {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := newFloorServer("http://" + listener.Addr().String())
	go server.Serve(listener)
	t.Cleanup(server.Stop)
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{listener.Addr().String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFloorAnswersKVAsEtcdShapesIt(t *testing.T) {
	client, ctx := startFloor(t), testContext(t)
	put, err := client.Put(ctx, "a", "1")
	if err != nil {
		t.Fatal(err)
	}
	header := put.Header
	if header.Revision != 2 || header.MemberId != floorMemberID || header.ClusterId != floorClusterID || header.RaftTerm != floorTerm {
		t.Fatalf("first put's header %+v: want revision 2 (a fresh store is at 1), the floor's member, cluster and term", header)
	}
	again, err := client.Put(ctx, "a", "2", clientv3.WithPrevKV())
	if err != nil || again.PrevKv == nil || string(again.PrevKv.Value) != "1" || again.Header.Revision != 3 {
		t.Fatalf("second put: %v, %+v", err, again)
	}
	if _, err := client.Put(ctx, "b", "x"); err != nil {
		t.Fatal(err)
	}
	got, err := client.Get(ctx, "a")
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("get a: %v %+v", err, got)
	}
	if kv := got.Kvs[0]; string(kv.Value) != "2" || kv.CreateRevision != 2 || kv.ModRevision != 3 || kv.Version != 2 || got.Header.Revision != 4 {
		t.Fatalf("a = %+v at revision %d; want value 2, created at 2, modified at 3, version 2, header at 4", kv, got.Header.Revision)
	}
	all, err := client.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithLimit(1), clientv3.WithSerializable())
	if err != nil || all.Count != 2 || !all.More || len(all.Kvs) != 1 || string(all.Kvs[0].Key) != "a" {
		t.Fatalf("range over everything, limit 1: %v %+v", err, all)
	}
	if missing, err := client.Get(ctx, "zz"); err != nil || missing.Count != 0 || len(missing.Kvs) != 0 {
		t.Fatalf("a missing key: %v %+v", err, missing)
	}

	// Compare-and-swap as the load generator's txn-put does it.
	swap := func(expected int64) *clientv3.TxnResponse {
		t.Helper()
		response, err := client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision("a"), "=", expected)).
			Then(clientv3.OpPut("a", "3"), clientv3.OpPut("c", "3")).Else(clientv3.OpGet("a")).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return response
	}
	if failed := swap(2); failed.Succeeded || failed.Responses[0].GetResponseRange().Kvs[0].ModRevision != 3 || failed.Header.Revision != 4 {
		t.Fatalf("a failed compare: %+v", failed)
	}
	if succeeded := swap(3); !succeeded.Succeeded || succeeded.Header.Revision != 5 {
		t.Fatalf("a successful compare: %+v", succeeded)
	}
	if got, _ := client.Get(ctx, "c"); len(got.Kvs) != 1 || got.Kvs[0].ModRevision != 5 {
		t.Fatalf("both puts of a transaction share its revision: c = %+v", got.Kvs)
	}
	deleted, err := client.Delete(ctx, "b", clientv3.WithPrevKV())
	if err != nil || deleted.Deleted != 1 || len(deleted.PrevKvs) != 1 || deleted.Header.Revision != 6 {
		t.Fatalf("delete: %v %+v", err, deleted)
	}
	if nothing, err := client.Delete(ctx, "b"); err != nil || nothing.Deleted != 0 || nothing.Header.Revision != 6 {
		t.Fatalf("deleting nothing must not move the revision: %v %+v", err, nothing)
	}
	if _, err := client.Txn(ctx).Then(clientv3.OpPut("d", "1"), clientv3.OpPut("d", "2")).Commit(); !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Fatalf("a transaction putting one key twice: %v, want etcd's duplicate key error", err)
	}
}

func TestFloorRefusesWhatItDoesNotServe(t *testing.T) {
	client, ctx := startFloor(t), testContext(t)
	if _, err := client.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"an old revision": func() error { _, err := client.Get(ctx, "a", clientv3.WithRev(1)); return err }(),
		"a lease":         func() error { _, err := client.Put(ctx, "a", "1", clientv3.WithLease(5)); return err }(),
		"granting leases": func() error { _, err := client.Grant(ctx, 10); return err }(),
		"sorting": func() error {
			_, err := client.Get(ctx, "a", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
			return err
		}(),
	} {
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("%s: %v, want Unimplemented", name, err)
		}
	}
	if _, err := client.Get(ctx, "a", clientv3.WithRev(100)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Errorf("a future revision: %v, want etcd's future revision error", err)
	}
}

func TestFloorStatusAndMembers(t *testing.T) {
	client, ctx := startFloor(t), testContext(t)
	endpoint := client.Endpoints()[0]
	state, err := client.Status(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if state.Leader != floorMemberID || state.Header.MemberId != floorMemberID || state.RaftTerm != floorTerm || state.Version != floorVersion {
		t.Fatalf("status %+v: the floor must be its own leader (so --target-leader finds it)", state)
	}
	members, err := client.MemberList(ctx)
	if err != nil || len(members.Members) != 1 || members.Members[0].ID != floorMemberID || members.Members[0].ClientURLs[0] != "http://"+endpoint {
		t.Fatalf("members: %v %+v", err, members)
	}
}

func TestFloorWatchesDeliverEveryWriteInOrder(t *testing.T) {
	client, ctx := startFloor(t), testContext(t)
	prefix := client.Watch(ctx, "k/", clientv3.WithPrefix(), clientv3.WithCreatedNotify(), clientv3.WithPrevKV())
	single := client.Watch(ctx, "k/1", clientv3.WithCreatedNotify(), clientv3.WithFilterDelete())
	for _, channel := range []clientv3.WatchChan{prefix, single} {
		if created := <-channel; !created.Created {
			t.Fatalf("first response %+v, want the creation", created)
		}
	}
	if _, err := client.Put(ctx, "k/1", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, "other", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Txn(ctx).Then(clientv3.OpPut("k/2", "b"), clientv3.OpPut("k/1", "c")).Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Delete(ctx, "k/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		kind     mvccpb.Event_EventType
		key      string
		revision int64
		previous string
	}
	collect := func(channel clientv3.WatchChan, count int) []seen {
		var events []seen
		for len(events) < count {
			response, open := <-channel
			if !open || response.Err() != nil {
				t.Fatalf("the watch ended: %v", response.Err())
			}
			for _, event := range response.Events {
				s := seen{kind: event.Type, key: string(event.Kv.Key), revision: event.Kv.ModRevision}
				if event.PrevKv != nil {
					s.previous = string(event.PrevKv.Value)
				}
				events = append(events, s)
			}
		}
		return events
	}
	want := []seen{{mvccpb.PUT, "k/1", 2, ""}, {mvccpb.PUT, "k/2", 4, ""}, {mvccpb.PUT, "k/1", 4, "a"},
		{mvccpb.DELETE, "k/1", 5, "c"}, {mvccpb.DELETE, "k/2", 5, "b"}}
	if got := collect(prefix, len(want)); !equalSeen(got, want) {
		t.Fatalf("prefix watch saw %+v, want %+v", got, want)
	}
	wantSingle := []seen{{mvccpb.PUT, "k/1", 2, ""}, {mvccpb.PUT, "k/1", 4, ""}} // no deletions, no previous values
	if got := collect(single, len(wantSingle)); !equalSeen(got, wantSingle) {
		t.Fatalf("single-key watch saw %+v, want %+v", got, wantSingle)
	}
}

func equalSeen[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFloorWatchOfThePastIsCancelled: the floor keeps no history, so a
// watch that asks for it is refused at once, with the reason.
func TestFloorWatchOfThePastIsCancelled(t *testing.T) {
	client, ctx := startFloor(t), testContext(t)
	for range 3 {
		if _, err := client.Put(ctx, "a", "1"); err != nil {
			t.Fatal(err)
		}
	}
	stream, err := pb.NewWatchClient(client.ActiveConnection()).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	create := func(start int64) *pb.WatchResponse {
		t.Helper()
		if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte("a"), StartRevision: start}}}); err != nil {
			t.Fatal(err)
		}
		response, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return response
	}
	if past := create(2); !past.Created || !past.Canceled || past.CancelReason == "" {
		t.Fatalf("a watch from revision 2 at revision 4: %+v, want it created and cancelled with a reason", past)
	}
	if next := create(5); !next.Created || next.Canceled {
		t.Fatalf("a watch from the next revision: %+v", next)
	}
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
		t.Fatal(err)
	}
	if progress, err := stream.Recv(); err != nil || progress.WatchId != -1 || progress.Header.Revision != 4 {
		t.Fatalf("progress: %v %+v, want watch ID -1 at revision 4", err, progress)
	}
}
