package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// openWatchStream opens a raw Watch stream on the client's connection, so
// a test sees every response as the server sends it.
func openWatchStream(t *testing.T, ctx context.Context, client *clientv3.Client) pb.Watch_WatchClient {
	t.Helper()
	stream, err := pb.NewWatchClient(client.ActiveConnection()).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// createWatch creates a watch on the stream and returns its ID.
func createWatch(t *testing.T, stream pb.Watch_WatchClient, request *pb.WatchCreateRequest) int64 {
	t.Helper()
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: request}}); err != nil {
		t.Fatal(err)
	}
	response, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if !response.Created || response.Canceled {
		t.Fatalf("create %q: %+v", request.Key, response)
	}
	return response.WatchId
}

func mustPut(t *testing.T, ctx context.Context, client *clientv3.Client, key, value string) int64 {
	t.Helper()
	response, err := client.Put(ctx, key, value)
	if err != nil {
		t.Fatal(err)
	}
	return response.Header.Revision
}

// TestProgressRequestWaitsForStartRevision: on a follower, a stream-wide
// progress request made while one watch starts in the future is answered
// only once the member reaches that start, after the watch's first event,
// never at the revision the member had when asked (etcd issue 20221).
func TestProgressRequestWaitsForStartRevision(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	writer := cluster.client(cluster.endpoint(cluster.leader()))
	current := mustPut(t, ctx, writer, "x", "0")
	stream := openWatchStream(t, ctx, cluster.client(cluster.endpoint(cluster.follower())))
	createWatch(t, stream, &pb.WatchCreateRequest{Key: []byte("now")})
	future := createWatch(t, stream, &pb.WatchCreateRequest{Key: []byte("w"), StartRevision: current + 3})
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, ctx, writer, "x", "1")
	mustPut(t, ctx, writer, "x", "2")
	if revision := mustPut(t, ctx, writer, "w", "3"); revision != current+3 {
		t.Fatalf("put w at %d, want %d", revision, current+3)
	}
	sawEvent := false
	for {
		response, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case response.WatchId == -1:
			if revision := response.Header.Revision; revision < current+3 || !sawEvent {
				t.Fatalf("progress at revision %d (event delivered before it: %v) for a watch starting at %d", revision, sawEvent, current+3)
			}
			return
		case response.WatchId == future && len(response.Events) > 0:
			if got := response.Events[0].Kv.ModRevision; got != current+3 {
				t.Fatalf("first event at %d, want %d", got, current+3)
			}
			sawEvent = true
		}
	}
}

// TestWatchFailoverResumesAtStart is the failure etcd issue 20221
// reports, on a 3-member cluster: a client watching on a follower from a
// future revision asks for progress; the follower dies; the watch resumes
// on another member. It must resume at its start or later, so that it
// never receives events below the revision it asked for.
func TestWatchFailoverResumesAtStart(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	leader := cluster.leader()
	follower := cluster.follower()
	other := 3 - leader - follower
	writer := cluster.client(cluster.endpoint(leader))
	current := mustPut(t, ctx, writer, "x", "0")
	start := current + 5

	watching := cluster.client(cluster.endpoint(follower))
	now := watching.Watch(ctx, "now")
	fromStart := watching.Watch(ctx, "b/", clientv3.WithPrefix(), clientv3.WithRev(start))
	if err := watching.RequestProgress(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ { // revisions below the start
		mustPut(t, ctx, writer, fmt.Sprintf("b/%d", i), "below")
	}
	mustPut(t, ctx, writer, "y", "start") // the start revision, not watched
	progress := <-now
	if !progress.IsProgressNotify() || progress.Header.Revision < start {
		t.Fatalf("progress response at revision %d (progress notify %v), want one at %d or later", progress.Header.Revision, progress.IsProgressNotify(), start)
	}

	watching.SetEndpoints(cluster.endpoint(other), cluster.endpoint(leader))
	cluster.kill(follower)
	wanted := mustPut(t, ctx, writer, "b/5", "wanted")
	for response := range fromStart {
		if err := response.Err(); err != nil {
			t.Fatal(err)
		}
		for _, event := range response.Events {
			if event.Kv.ModRevision < start {
				t.Fatalf("after the failover: event %s at %d, below the watch's start %d", event.Kv.Key, event.Kv.ModRevision, start)
			}
			if event.Kv.ModRevision == wanted {
				return
			}
		}
	}
	t.Fatal("the watch ended before the event it asked for")
}

// TestProgressNotifyInterval: with a short interval, a watch created with
// progress_notify gets notifications on its own, and one that starts in
// the future gets none below its start.
func TestProgressNotifyInterval(t *testing.T) {
	const interval = 20 * time.Millisecond
	cluster := startCluster(t, 1, func(config *Config) { config.WatchProgressNotifyInterval = interval })
	ctx := testContext(t)
	client := cluster.client()
	current := mustPut(t, ctx, client, "x", "0")
	stream := openWatchStream(t, ctx, client)
	now := createWatch(t, stream, &pb.WatchCreateRequest{Key: []byte("now"), ProgressNotify: true})
	future := createWatch(t, stream, &pb.WatchCreateRequest{Key: []byte("later"), StartRevision: current + 2, ProgressNotify: true})
	nowNotifications := 0
	for nowNotifications < 5 { // five intervals of the first watch: the second's ticker fired too
		response, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if response.WatchId == future {
			t.Fatalf("progress notification at %d for a watch starting at %d", response.Header.Revision, current+2)
		}
		if response.WatchId == now && len(response.Events) == 0 && response.Header.Revision == current {
			nowNotifications++
		}
	}
	mustPut(t, ctx, client, "x", "1")
	mustPut(t, ctx, client, "x", "2")
	for {
		response, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if response.WatchId == future {
			if len(response.Events) != 0 || response.Header.Revision < current+2 {
				t.Fatalf("response %+v for a watch starting at %d", response, current+2)
			}
			return
		}
	}
}

// recordingWatchStream is a Watch stream that records what the server sends
// and receives nothing: it lets a test drive a watchStream's steps itself.
type recordingWatchStream struct {
	grpc.ServerStream
	ctx  context.Context
	mu   sync.Mutex
	sent []*pb.WatchResponse
}

func (r *recordingWatchStream) Context() context.Context { return r.ctx }
func (r *recordingWatchStream) Recv() (*pb.WatchRequest, error) {
	<-r.ctx.Done()
	return nil, r.ctx.Err()
}
func (r *recordingWatchStream) Send(response *pb.WatchResponse) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, response)
	return nil
}

// TestProgressRoundRestartsForANewWatch: a watch with a start revision
// created while a stream-wide progress round has its markers queued
// starts the round over, so the round's answer, already fixed below the
// new watch's start, is never sent (clientv3 would apply it to the new
// watch too). The stream's steps are driven one by one, without its
// sending goroutine, so the round is caught between queueing and answer.
func TestProgressRoundRestartsForANewWatch(t *testing.T) {
	cluster := startCluster(t, 1, nil)
	ctx := testContext(t)
	current := mustPut(t, ctx, cluster.client(), "x", "0")
	streamContext, cancel := context.WithCancel(ctx)
	stream := &recordingWatchStream{ctx: streamContext}
	ws := &watchStream{server: cluster.members[0], stream: stream, ctx: streamContext, cancel: cancel,
		watchers: map[int64]*streamWatcher{}, ready: make(chan struct{}, 1)}
	defer ws.closeAll()
	if err := ws.create(&pb.WatchCreateRequest{Key: []byte("now")}); err != nil {
		t.Fatal(err)
	}
	ws.requestProgress()
	ws.group.Wait() // the markers are queued at the current revision
	ws.mu.Lock()
	queuedAt := ws.progress.revision
	ws.mu.Unlock()
	if queuedAt != current {
		t.Fatalf("round queued at %d, want %d", queuedAt, current)
	}
	if err := ws.create(&pb.WatchCreateRequest{Key: []byte("later"), StartRevision: current + 5}); err != nil {
		t.Fatal(err)
	}
	ws.mu.Lock()
	restarted := ws.progress != nil && ws.progress.revision == 0
	first := ws.watchers[1]
	ws.mu.Unlock()
	if !restarted {
		t.Fatalf("the round queued at %d was not started over for a watch starting at %d", queuedAt, current+5)
	}
	ws.drain(first) // forwards the old round's marker
	stream.mu.Lock()
	defer stream.mu.Unlock()
	for _, response := range stream.sent {
		if response.WatchId == -1 {
			t.Fatalf("progress answered at %d although a watch starts at %d", response.Header.Revision, current+5)
		}
	}
}

// TestWatchIDsCountFromZeroAndAreNotReused: the IDs a stream's server picks
// start at 0 and skip a cancelled one, as etcd's do, so a late event of a
// cancelled watch can never be taken for a new watch's.
func TestWatchIDsCountFromZeroAndAreNotReused(t *testing.T) {
	cluster := startCluster(t, 1, nil)
	ctx := testContext(t)
	stream := openWatchStream(t, ctx, cluster.client(cluster.endpoint(0)))
	if id := createWatch(t, stream, &pb.WatchCreateRequest{Key: []byte("a")}); id != 0 {
		t.Fatalf("the first watch got ID %d, want 0", id)
	}
	if err := stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 0}}}); err != nil {
		t.Fatal(err)
	}
	if response, err := stream.Recv(); err != nil || !response.Canceled || response.WatchId != 0 {
		t.Fatalf("cancel 0: %+v %v", response, err)
	}
	if id := createWatch(t, stream, &pb.WatchCreateRequest{Key: []byte("b")}); id != 1 {
		t.Errorf("the watch after the cancelled 0 got ID %d, want 1", id)
	}
	if id := createWatch(t, stream, &pb.WatchCreateRequest{Key: []byte("c"), WatchId: 2}); id != 2 {
		t.Errorf("a watch naming ID 2 got %d", id)
	}
	if id := createWatch(t, stream, &pb.WatchCreateRequest{Key: []byte("d")}); id != 3 {
		t.Errorf("the next picked ID is %d, want 3 (2 is in use)", id)
	}
}
