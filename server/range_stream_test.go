package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lockstepdb/lockstep/kv"
)

// receiveChunks reads a RangeStream to its end; the error is the one that
// ended it (nil at io.EOF).
func receiveChunks(ctx context.Context, client pb.KVClient, request *pb.RangeRequest) ([]*pb.RangeResponse, error) {
	stream, err := client.RangeStream(ctx, request)
	if err != nil {
		return nil, err
	}
	var chunks []*pb.RangeResponse
	for {
		response, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, response.RangeResponse)
	}
}

// mergeChunks is proto.Merge of every chunk: etcd's contract says it is
// the Range answer.
func mergeChunks(chunks []*pb.RangeResponse) *pb.RangeResponse {
	response := &pb.RangeResponse{}
	for _, chunk := range chunks {
		proto.Merge(response, chunk)
	}
	return response
}

// putValues writes count keys prefix/0000... with values of size bytes.
func putValues(t *testing.T, ctx context.Context, client *clientv3.Client, prefix string, count, size int) {
	t.Helper()
	for i := range count {
		if _, err := client.Put(ctx, fmt.Sprintf("%s/%04d", prefix, i), fmt.Sprintf("%04d", i)+strings.Repeat("v", size)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRangeStreamThroughClient streams a range of several chunks through
// gRPC: the chunks merge into Range's answer, and only the last carries
// the header, filled as Range's.
func TestRangeStreamThroughClient(t *testing.T) {
	cluster := startCluster(t, 1, func(config *Config) { config.MaxRequestBytes = 64 << 10 })
	cluster.leader()
	ctx := testContext(t)
	client := cluster.client()
	putValues(t, ctx, client, "k", 60, 4<<10)
	kvClient := pb.NewKVClient(client.ActiveConnection())
	request := &pb.RangeRequest{Key: []byte("k/"), RangeEnd: []byte("k0")}
	chunks, err := receiveChunks(ctx, kvClient, request)
	if err != nil {
		t.Fatal(err)
	}
	// 10 values of 4 KiB are ~40 KiB, within [32 KiB, 128 KiB]: 10 a chunk.
	if len(chunks) != 6 {
		t.Errorf("%d chunks, want 6", len(chunks))
	}
	for i, chunk := range chunks[:len(chunks)-1] {
		if chunk.Header != nil || chunk.More || chunk.Count != 0 {
			t.Errorf("chunk %d: header %v more %v count %d", i, chunk.Header, chunk.More, chunk.Count)
		}
	}
	want, err := kvClient.Range(ctx, request)
	if err != nil {
		t.Fatal(err)
	}
	got := mergeChunks(chunks)
	if !proto.Equal(got, want) {
		t.Errorf("merged chunks differ from Range: header %v count %d, Range header %v count %d", got.Header, got.Count, want.Header, want.Count)
	}
	member := cluster.members[0]
	if header := got.Header; header.ClusterId != member.ClusterID() || header.MemberId != member.ID() || header.RaftTerm == 0 || header.Revision != 61 {
		t.Errorf("header %v, want cluster %x member %x, a term, revision 61", header, member.ClusterID(), member.ID())
	}
	// etcd's own client merges the stream as well.
	streamed, err := client.GetStream(ctx, "k/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	fromClient, err := clientv3.GetStreamToGetResponse(streamed)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal((*pb.RangeResponse)(fromClient), want) {
		t.Errorf("clientv3 GetStream: %d keys, count %d, want %d", len(fromClient.Kvs), fromClient.Count, want.Count)
	}
}

// TestRangeStreamErrors checks etcd's errors through gRPC: refusals of the
// request, and the revision checks.
func TestRangeStreamErrors(t *testing.T) {
	cluster := startCluster(t, 1, nil)
	cluster.leader()
	ctx := testContext(t)
	client := cluster.client()
	putValues(t, ctx, client, "k", 5, 1)
	if _, err := client.Compact(ctx, 4); err != nil {
		t.Fatal(err)
	}
	kvClient := pb.NewKVClient(client.ActiveConnection())
	cases := []struct {
		name    string
		request *pb.RangeRequest
		want    error
	}{
		{"empty key", &pb.RangeRequest{}, rpctypes.ErrGRPCEmptyKey},
		{"bad sort order", &pb.RangeRequest{Key: []byte("k"), SortOrder: 7}, rpctypes.ErrGRPCInvalidSortOption},
		{"custom sort order", &pb.RangeRequest{Key: []byte("k"), SortOrder: pb.RangeRequest_DESCEND}, kv.ErrGRPCStreamSortOrder},
		{"revision filter", &pb.RangeRequest{Key: []byte("k"), MinModRevision: 2}, kv.ErrGRPCStreamRevisionFilters},
		{"future revision", &pb.RangeRequest{Key: []byte("k"), Revision: 7}, rpctypes.ErrGRPCFutureRev},
		{"compacted revision", &pb.RangeRequest{Key: []byte("k"), Revision: 3}, rpctypes.ErrGRPCCompacted},
	}
	for _, c := range cases {
		chunks, err := receiveChunks(ctx, kvClient, c.request)
		if status.Code(err) != status.Code(c.want) || status.Convert(err).Message() != status.Convert(c.want).Message() {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if len(chunks) != 0 {
			t.Errorf("%s: %d chunks before the error", c.name, len(chunks))
		}
	}
}

// recordingStream is a RangeStream server stream that records what the
// handler sends and runs afterSend after each chunk, so a test acts at an
// exact point between two chunks.
type recordingStream struct {
	grpc.ServerStream // not used by the handler
	ctx               context.Context
	chunks            []*pb.RangeResponse
	afterSend         func(sent int)
}

func (s *recordingStream) Context() context.Context { return s.ctx }

func (s *recordingStream) Send(response *pb.RangeStreamResponse) error {
	s.chunks = append(s.chunks, response.RangeResponse)
	if s.afterSend != nil {
		s.afterSend(len(s.chunks))
	}
	return nil
}

// TestRangeStreamIgnoresWritesDuringTheStream writes into the range after
// the first chunk is sent: the rest of the stream still answers the first
// chunk's revision.
func TestRangeStreamIgnoresWritesDuringTheStream(t *testing.T) {
	cluster := startCluster(t, 1, nil)
	cluster.leader()
	ctx := testContext(t)
	client := cluster.client()
	putValues(t, ctx, client, "k", 100, 8)
	request := &pb.RangeRequest{Key: []byte("k/"), RangeEnd: []byte("k0")}
	before, err := client.Get(ctx, "k/", clientv3.WithRange("k0"))
	if err != nil {
		t.Fatal(err)
	}
	stream := &recordingStream{ctx: ctx, afterSend: func(sent int) {
		if sent != 1 {
			return
		}
		// Applied on the only member before the next chunk is read.
		for _, key := range []string{"k/0050", "k/0005", "k/0099a"} {
			if _, err := client.Put(ctx, key, "written during the stream"); err != nil {
				t.Error(err)
			}
		}
		if _, err := client.Delete(ctx, "k/0070", clientv3.WithRange("k/0080")); err != nil {
			t.Error(err)
		}
	}}
	if err := (&kvService{server: cluster.members[0]}).RangeStream(request, stream); err != nil {
		t.Fatal(err)
	}
	if len(stream.chunks) < 3 {
		t.Fatalf("%d chunks, want several", len(stream.chunks))
	}
	got := mergeChunks(stream.chunks)
	if got.Header.Revision != before.Header.Revision || got.Count != 100 || len(got.Kvs) != 100 {
		t.Fatalf("stream at revision %d with %d keys (count %d), want revision %d and 100 keys", got.Header.Revision, len(got.Kvs), got.Count, before.Header.Revision)
	}
	for i, keyValue := range got.Kvs {
		if !proto.Equal(keyValue, before.Kvs[i]) {
			t.Errorf("key %d: %v, want %v", i, keyValue, before.Kvs[i])
		}
	}
}

// TestRangeStreamStopsWhenTheClientCancels cancels the client's context
// after the first chunk: the handler sends nothing more and answers
// Canceled.
func TestRangeStreamStopsWhenTheClientCancels(t *testing.T) {
	cluster := startCluster(t, 1, nil)
	cluster.leader()
	ctx := testContext(t)
	putValues(t, ctx, cluster.client(), "k", 100, 8)
	streamContext, cancel := context.WithCancel(ctx)
	defer cancel()
	stream := &recordingStream{ctx: streamContext, afterSend: func(int) { cancel() }}
	err := (&kvService{server: cluster.members[0]}).RangeStream(&pb.RangeRequest{Key: []byte("k/"), RangeEnd: []byte("k0")}, stream)
	if status.Code(err) != codes.Canceled {
		t.Errorf("error %v, want Canceled", err)
	}
	if len(stream.chunks) != 1 {
		t.Errorf("%d chunks sent, want 1", len(stream.chunks))
	}
}

// TestRangeStreamLinearizableWaitsForQuorum checks the read barrier: with
// the quorum gone, a linearizable stream answers nothing, while a
// serializable one reads the member's own state.
func TestRangeStreamLinearizableWaitsForQuorum(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	leader := cluster.leader()
	ctx := testContext(t)
	client := cluster.client(cluster.endpoint(leader))
	putValues(t, ctx, client, "k", 20, 8)
	survivor := cluster.follower()
	// The survivor has applied the writes once a linearizable read on it
	// sees them.
	kvClient := pb.NewKVClient(cluster.client(cluster.endpoint(survivor)).ActiveConnection())
	request := &pb.RangeRequest{Key: []byte("k/"), RangeEnd: []byte("k0")}
	if chunks, err := receiveChunks(ctx, kvClient, request); err != nil || mergeChunks(chunks).Count != 20 {
		t.Fatalf("linearizable stream with a quorum: %d chunks, %v", len(chunks), err)
	}
	for i := range cluster.members {
		if i != survivor {
			cluster.kill(i)
		}
	}
	shortContext, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if chunks, err := receiveChunks(shortContext, kvClient, request); err == nil || len(chunks) != 0 {
		t.Errorf("linearizable stream without a quorum: %d chunks, error %v", len(chunks), err)
	}
	serializable := proto.CloneOf(request)
	serializable.Serializable = true
	chunks, err := receiveChunks(ctx, kvClient, serializable)
	if err != nil || mergeChunks(chunks).Count != 20 {
		t.Errorf("serializable stream without a quorum: %d chunks, %v", len(chunks), err)
	}
}
