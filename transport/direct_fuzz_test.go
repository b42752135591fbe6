package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/raft"
)

// FuzzDecodeRefusal feeds arbitrary bytes to the sender's decoder of a
// direct connection's refusal frame: it never panics, fails only with
// ErrMalformed, and a refusal it accepts encodes back to the same frame.
func FuzzDecodeRefusal(f *testing.F) {
	f.Add(appendRefusal(nil, status.Error(codes.PermissionDenied, "transport: member 1 "+removedMarker)))
	f.Add([]byte{frameRefusal})
	f.Add([]byte{frameAccept})
	f.Fuzz(func(t *testing.T, frame []byte) {
		refusal := decodeRefusal(frame)
		if errors.Is(refusal, ErrMalformed) {
			return
		}
		decoded, ok := status.FromError(refusal)
		if !ok {
			t.Fatalf("neither malformed nor a status: %v", refusal)
		}
		// A refusal re-encodes to the same frame when its code's varint
		// was minimal; the decoder does not insist on that.
		again := appendRefusal(nil, refusal)
		if again[0] != frameRefusal || decoded.Code() > codes.Unauthenticated {
			t.Fatalf("decoded %v from %x", refusal, frame)
		}
		if minimal := binary.AppendUvarint([]byte{frameRefusal}, uint64(decoded.Code())); bytes.HasPrefix(frame, minimal) && !bytes.Equal(again, frame) {
			t.Fatalf("refusal re-encodes differently: %x, was %x", again, frame)
		}
	})
}

// FuzzDirectConnection writes arbitrary bytes after the direct protocol's
// magic to a running transport's peer port: whatever they are, the
// transport neither panics nor holds the connection once the sender is
// done, and it keeps serving.
func FuzzDirectConnection(f *testing.F) {
	header := appendStreamHeader(nil, streamHeader{clusterID: testClusterID, from: 1, to: 2})
	batch := append([]byte{frameBatch}, AppendBatch(nil, []raft.Message{heartbeat(1, 2, 1), heartbeat(1, 2, 2)})...)
	f.Add(appendFrame(appendFrame(nil, header), batch))
	f.Add(appendFrame(nil, header))
	f.Add(appendFrame(appendFrame(nil, header), []byte("garbage")))
	f.Add(binary.BigEndian.AppendUint32(appendFrame(nil, header), 1<<31))
	f.Add([]byte{0, 0, 0})

	b := startNode(f, 2, nil)
	go func() {
		for range b.received { // the handler must never block the connection
		}
	}()
	f.Fuzz(func(t *testing.T, data []byte) {
		conn, err := net.Dial("tcp", b.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(testTimeout))
		if _, err := conn.Write(append([]byte(directMagic), data...)); err != nil && !isReset(err) {
			t.Fatal(err)
		}
		_ = conn.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, conn); err != nil && !isReset(err) {
			t.Fatalf("the transport held the connection: %v", err)
		}
	})
}
