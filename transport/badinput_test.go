package transport

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/raft"
)

// rawStream opens a stream to node by hand, to send what a correct
// transport never would.
func rawStream(ctx context.Context, t *testing.T, node *testNode, desc *grpc.StreamDesc, method string) grpc.ClientStream {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+node.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := conn.NewStream(ctx, desc, method)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func sendFrame(t *testing.T, stream grpc.ClientStream, frame []byte) {
	t.Helper()
	if err := stream.SendMsg(&frame); err != nil {
		t.Fatal(err)
	}
}

func expectAccept(t *testing.T, stream grpc.ClientStream) {
	t.Helper()
	var frame []byte
	if err := stream.RecvMsg(&frame); err != nil || string(frame) != string([]byte{frameAccept}) {
		t.Fatalf("stream not accepted: %q, %v", frame, err)
	}
}

func TestBadInputIsDroppedAndCounted(t *testing.T) {
	ctx := deadline(t)
	b := startNode(t, 2, nil)
	stream := rawStream(ctx, t, b, &messagesStreamDesc, messagesMethod)
	sendFrame(t, stream, appendStreamHeader(nil, streamHeader{clusterID: testClusterID, from: 1, to: 2}))
	expectAccept(t, stream)

	for _, frame := range badFrames() {
		sendFrame(t, stream, frame)
	}
	expectBadFramesHandled(ctx, t, b)
}

// badFrames are frames from node 1 to node 2 with something wrong in
// each, around the good messages with commits 1, 2 and 3: a frame that is
// not a batch, a batch with an undecodable message between good ones, a
// batch whose framing is truncated, and a batch with a message claiming
// another sender and one for another node.
func badFrames() [][]byte {
	good := AppendMessage(nil, heartbeat(1, 2, 1))[1:]
	bad := append([]byte{200}, make([]byte, 12)...) // unknown type
	batch := []byte{frameBatch, Version, 3}
	for _, body := range [][]byte{good, bad, AppendMessage(nil, heartbeat(1, 2, 2))[1:]} {
		batch = binary.AppendUvarint(batch, uint64(len(body)))
		batch = append(batch, body...)
	}
	return [][]byte{
		[]byte("garbage"),
		batch,
		append([]byte{frameBatch}, AppendBatch(nil, []raft.Message{heartbeat(1, 2, 99)})[:4]...),
		append([]byte{frameBatch}, AppendBatch(nil, []raft.Message{heartbeat(5, 2, 98), heartbeat(1, 3, 97), heartbeat(1, 2, 3)})...),
	}
}

// expectBadFramesHandled checks that b received the good messages of
// badFrames, in order, and dropped and counted the rest.
func expectBadFramesHandled(ctx context.Context, t *testing.T, b *testNode) {
	t.Helper()
	for want := uint64(1); want <= 3; want++ {
		if m := receive(ctx, t, b); m.Commit != want {
			t.Fatalf("got %v, want commit %d", m, want)
		}
	}
	stats := b.Stats()
	if stats.DroppedDecodeError != 3 || stats.DroppedWrongSender != 1 || stats.DroppedWrongTarget != 1 || stats.Received != 3 {
		t.Errorf("stats %+v", stats)
	}
}

func TestBadStreamHeadersRefused(t *testing.T) {
	ctx := deadline(t)
	b := startNode(t, 2, nil)
	for name, header := range map[string][]byte{
		"garbage":       []byte("hello"),
		"wrong version": {frameHeader, 9, 7, 1, 2},
		"trailing":      append(appendStreamHeader(nil, streamHeader{clusterID: testClusterID, from: 1, to: 2}), 0),
		"sender zero":   appendStreamHeader(nil, streamHeader{clusterID: testClusterID, from: 0, to: 2}),
		"wrong cluster": appendStreamHeader(nil, streamHeader{clusterID: 99, from: 1, to: 2}),
	} {
		stream := rawStream(ctx, t, b, &messagesStreamDesc, messagesMethod)
		sendFrame(t, stream, header)
		var frame []byte
		err := stream.RecvMsg(&frame)
		if code := status.Code(err); code != codes.InvalidArgument && code != codes.FailedPrecondition {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestCorruptSnapshotChunkDiscarded(t *testing.T) {
	ctx := deadline(t)
	b := startNode(t, 2, nil)
	open := func() grpc.ClientStream {
		stream := rawStream(ctx, t, b, &snapshotStreamDesc, snapshotMethod)
		sendFrame(t, stream, appendStreamHeader(nil, streamHeader{clusterID: testClusterID, from: 1, to: 2}))
		expectAccept(t, stream)
		return stream
	}
	m := snapshotMessage(1, 2, 10, 1000, 1)
	outcome := func(stream grpc.ClientStream) error {
		stream.CloseSend()
		var frame []byte
		return stream.RecvMsg(&frame)
	}

	// A chunk whose checksum does not match its data.
	stream := open()
	sendFrame(t, stream, appendSnapshotBegin(nil, m))
	chunk := appendSnapshotChunk(nil, 0, m.Snapshot.Data)
	chunk[len(chunk)-1] ^= 1
	sendFrame(t, stream, chunk)
	if err := outcome(stream); status.Code(err) != codes.InvalidArgument {
		t.Errorf("corrupt chunk: %v", err)
	}

	// Chunks that each check out but do not make the announced snapshot.
	stream = open()
	sendFrame(t, stream, appendSnapshotBegin(nil, m))
	sendFrame(t, stream, appendSnapshotChunk(nil, 0, m.Snapshot.Data[:500]))
	if err := outcome(stream); status.Code(err) != codes.InvalidArgument {
		t.Errorf("short snapshot: %v", err)
	}

	// Whole data, right size, but not the data the checksum was made for.
	stream = open()
	sendFrame(t, stream, appendSnapshotBegin(nil, m))
	other := snapshotMessage(1, 2, 10, 1000, 2)
	sendFrame(t, stream, appendSnapshotChunk(nil, 0, other.Snapshot.Data))
	if err := outcome(stream); status.Code(err) != codes.InvalidArgument {
		t.Errorf("wrong whole checksum: %v", err)
	}

	// A gap between chunks.
	stream = open()
	sendFrame(t, stream, appendSnapshotBegin(nil, m))
	sendFrame(t, stream, appendSnapshotChunk(nil, 0, m.Snapshot.Data[:100]))
	sendFrame(t, stream, appendSnapshotChunk(nil, 200, m.Snapshot.Data[200:]))
	if err := outcome(stream); status.Code(err) != codes.InvalidArgument {
		t.Errorf("gap: %v", err)
	}

	// And a correct one, by hand, is accepted.
	stream = open()
	sendFrame(t, stream, appendSnapshotBegin(nil, m))
	sendFrame(t, stream, appendSnapshotChunk(nil, 0, m.Snapshot.Data[:600]))
	sendFrame(t, stream, appendSnapshotChunk(nil, 600, m.Snapshot.Data[600:]))
	if err := outcome(stream); err != nil {
		t.Errorf("valid snapshot: %v", err)
	}
	if got := receive(ctx, t, b); got.Snapshot == nil || got.Snapshot.Metadata.Index != 10 {
		t.Fatalf("got %v", got)
	}
	if stats := b.Stats(); stats.SnapshotsDiscarded != 4 || stats.SnapshotsReceived != 1 {
		t.Errorf("stats %+v", stats)
	}
}

// A peer of a newer build that opens a stream with a transport version
// this build does not know is refused with an error that names the
// version, so that its operator sees why (a rolling upgrade to such a
// version must first teach every member the new version).
func TestNewerStreamVersionRefusedWithItsNumber(t *testing.T) {
	ctx := deadline(t)
	b := startNode(t, 2, nil)
	stream := rawStream(ctx, t, b, &messagesStreamDesc, messagesMethod)
	header := appendStreamHeader(nil, streamHeader{clusterID: testClusterID, from: 1, to: 2})
	header[1] = Version + 1
	sendFrame(t, stream, header)
	var frame []byte
	err := stream.RecvMsg(&frame)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), fmt.Sprintf("unknown stream version %d", Version+1)) {
		t.Fatalf("a stream of version %d: %v", Version+1, err)
	}
}
