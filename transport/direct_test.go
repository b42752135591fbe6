package transport

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/raft"
)

// rawDirect opens a plaintext direct message connection to node by hand,
// sends header as its header frame and returns the connection with the
// answer frame, to send what a correct transport never would.
func rawDirect(t *testing.T, node *testNode, header []byte) (net.Conn, *bufio.Reader, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", node.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Write(appendFrame([]byte(directMagic), header)); err != nil {
		t.Fatal(err)
	}
	reader := bufio.NewReader(conn)
	answer, err := readFrame(reader, frameSlack)
	if err != nil {
		t.Fatalf("no answer to the header: %v", err)
	}
	return conn, reader, answer
}

// acceptedDirect opens a direct connection by hand from node 1 to node, a
// valid one, and checks that it is accepted.
func acceptedDirect(t *testing.T, node *testNode) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, reader, answer := rawDirect(t, node, appendStreamHeader(nil, streamHeader{clusterID: testClusterID, from: 1, to: node.id}))
	if len(answer) != 1 || answer[0] != frameAccept {
		t.Fatalf("not accepted: %q", answer)
	}
	return conn, reader
}

func writeFrame(t *testing.T, conn net.Conn, frame []byte) {
	t.Helper()
	if _, err := conn.Write(appendFrame(nil, frame)); err != nil {
		t.Fatal(err)
	}
}

// The direct connection checks what it receives as the gRPC stream does:
// what is malformed is dropped and counted, and the good messages around
// it arrive.
func TestDirectBadInputIsDroppedAndCounted(t *testing.T) {
	ctx := deadline(t)
	b := startNode(t, 2, nil)
	conn, reader := acceptedDirect(t, b)

	for _, frame := range badFrames() {
		writeFrame(t, conn, frame)
	}
	expectBadFramesHandled(ctx, t, b)

	// A length prefix beyond the message limit ends the connection before
	// anything that size is allocated.
	huge := binary.BigEndian.AppendUint32(nil, 1<<31)
	if _, err := conn.Write(huge); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("connection still open after an oversized frame: %v", err)
	}
	waitForStats(ctx, t, b, func(s Stats) bool { return s.DroppedDecodeError == 4 })
}

// isReset reports whether err is the peer closing a connection with
// unread data (a reset) or a write after it closed, not a timeout.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// A bad header gets a refusal frame that carries the status a gRPC stream
// would end with.
func TestDirectBadHeadersRefused(t *testing.T) {
	b := startNode(t, 2, nil)
	for name, test := range map[string]struct {
		header []byte
		code   codes.Code
	}{
		"garbage":       {[]byte("hello"), codes.InvalidArgument},
		"wrong version": {[]byte{frameHeader, 9, 7, 1, 2}, codes.InvalidArgument},
		"sender zero":   {appendStreamHeader(nil, streamHeader{clusterID: testClusterID, from: 0, to: 2}), codes.FailedPrecondition},
		"wrong cluster": {appendStreamHeader(nil, streamHeader{clusterID: 99, from: 1, to: 2}), codes.FailedPrecondition},
		"wrong target":  {appendStreamHeader(nil, streamHeader{clusterID: testClusterID, from: 1, to: 3}), codes.FailedPrecondition},
	} {
		_, _, answer := rawDirect(t, b, test.header)
		refusal := decodeRefusal(answer)
		if status.Code(refusal) != test.code {
			t.Errorf("%s: refused with %v, want code %v", name, refusal, test.code)
		}
	}

	// A header frame longer than any header is refused without reading it.
	conn, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Write(binary.BigEndian.AppendUint32([]byte(directMagic), 1<<30)); err != nil {
		t.Fatal(err)
	}
	answer, err := readFrame(bufio.NewReader(conn), frameSlack)
	if err != nil || status.Code(decodeRefusal(answer)) != codes.InvalidArgument {
		t.Fatalf("oversized header: answer %q, %v", answer, err)
	}
}

// A member of a version without direct connections serves only gRPC on
// its peer port: a sender falls back to the gRPC message stream, and the
// messages arrive.
func TestOlderPeerGetsTheGRPCStream(t *testing.T) {
	authority := newTestAuthority(t, "cluster CA")
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "plaintext", true: "TLS"}[secure]
		t.Run(name, func(t *testing.T) {
			ctx := deadline(t)
			var clientTLS, serverTLS *tls.Config
			options := []grpc.ServerOption{grpc.ForceServerCodecV2(rawCodec{})}
			if secure {
				clientTLS = &tls.Config{RootCAs: authority.pool, MinVersion: tls.VersionTLS13}
				serverTLS = &tls.Config{Certificates: []tls.Certificate{authority.issue(t, "node 2", 2)}, MinVersion: tls.VersionTLS13}
				// An older member's gRPC server does the handshake itself,
				// offering only HTTP/2.
				options = append(options, grpc.Creds(credentials.NewTLS(serverTLS)))
			}
			a := startNode(t, 1, withTLS(clientTLS))
			b := startNode(t, 2, withTLS(serverTLS))
			listener, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			older := grpc.NewServer(options...)
			older.RegisterService(serviceDescription(), b.Transport)
			go older.Serve(listener)
			t.Cleanup(older.Stop)

			started := time.Now()
			a.SetPeer(2, listener.Addr().String())
			for commit := uint64(1); commit <= 3; commit++ {
				a.Send([]raft.Message{heartbeat(1, 2, commit)})
				if m := receive(ctx, t, b); m.Commit != commit {
					t.Fatalf("got %v, want commit %d", m, commit)
				}
			}
			stats := waitForStats(ctx, t, a, func(s Stats) bool { return s.Peers[2].Connected })
			if stats.Peers[2].Direct {
				t.Error("the peer's stats say direct, on a gRPC stream")
			}
			if reconnects := stats.Peers[2].Reconnects; reconnects != 0 {
				t.Errorf("falling back to gRPC counted as %d reconnections", reconnects)
			}
			// The older member closes a direct connection as soon as it has
			// read a preface's worth of bytes (or refuses the application
			// protocol), so the sender does not wait out its dial timeout.
			if elapsed := time.Since(started); elapsed >= directDialTimeout {
				t.Errorf("the first message took %v: the fallback waited for the dial timeout", elapsed)
			}
		})
	}
}

// A removed member is refused on a direct connection as on a gRPC stream:
// at the header once it is removed, and at its next batch on a connection
// opened before; either way it learns that it was removed.
func TestRemovedMemberRefusedOnDirectConnection(t *testing.T) {
	ctx := deadline(t)
	var removed atomic.Bool
	learned := make(chan struct{}, 16)
	a := startNodeBefore(t, 1, nil, func(tr *Transport) {
		tr.UseRemovals(nil, func() { learned <- struct{}{} })
	})
	b := startNodeBefore(t, 2, nil, func(tr *Transport) {
		tr.UseRemovals(func(id raft.NodeID) bool { return id == 1 && removed.Load() }, nil)
	})
	connect(a, b)
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	if m := receive(ctx, t, b); m.Commit != 1 {
		t.Fatalf("got %v", m)
	}
	a.logs.waitLog(ctx, t, "direct message connection open")
	if peer := a.Stats().Peers[2]; !peer.Connected || !peer.Direct {
		t.Fatalf("peer stats %+v on a direct connection", peer)
	}
	removed.Store(true)
	a.Send([]raft.Message{heartbeat(1, 2, 2)})
	select {
	case <-learned:
	case <-ctx.Done():
		t.Fatal("the removed member never learned of its removal")
	}
	// It learned from the refusal of that batch, on the open connection,
	// not from the refusal of the header of the next one (which would make
	// two refusals): the sender must not lose the refusal it reads as the
	// receiver closes.
	if refused := b.Stats().RejectedRemoved; refused != 1 {
		t.Errorf("the receiver refused %d times before the sender learned of its removal, want 1", refused)
	}
	expectNothing(t, b)

	// A new connection's header is refused too.
	_, _, answer := rawDirect(t, b, appendStreamHeader(nil, streamHeader{clusterID: testClusterID, from: 1, to: 2}))
	if refusal := decodeRefusal(answer); !isRemovedRefusal(refusal) {
		t.Fatalf("header of a removed member: %v", refusal)
	}
}

// silentPeer accepts TCP connections and never answers; it sends on the
// returned channel the first bytes each connection carries.
func silentPeer(t *testing.T) (string, chan []byte) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	starts := make(chan []byte, 16)
	done := make(chan struct{})
	t.Cleanup(func() { listener.Close(); close(done) })
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				start := make([]byte, len(directMagic))
				if _, err := io.ReadFull(conn, start); err == nil {
					starts <- start
				}
				<-done
			}()
		}
	}()
	return listener.Addr().String(), starts
}

// sendingToASilentPeer starts node 1 with a silentPeer as node 2 and
// sends it a message.
func sendingToASilentPeer(t *testing.T) (*testNode, chan []byte) {
	t.Helper()
	address, starts := silentPeer(t)
	a := startNode(t, 1, nil)
	a.SetPeer(2, address)
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	return a, starts
}

// A peer that accepts the connection and then says nothing holds neither
// Stop nor the sender: Stop closes the connection being set up.
func TestStopDoesNotWaitForAPeerThatDoesNotAnswer(t *testing.T) {
	ctx := deadline(t)
	a, starts := sendingToASilentPeer(t)
	select {
	case <-starts:
	case <-ctx.Done():
		t.Fatal("the sender never connected")
	}
	stopped := make(chan struct{})
	go func() { a.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(directDialTimeout / 2):
		t.Fatalf("Stop waited for the peer's answer (the dial allows %v)", directDialTimeout)
	}
}

// A peer that does not answer in time is slow or stopped, not a member of
// an older version: the sender tries a direct connection again, not gRPC.
func TestSilentPeerIsNotTakenForAnOlderOne(t *testing.T) {
	ctx := deadline(t)
	_, starts := sendingToASilentPeer(t)
	for attempt := 1; attempt <= 2; attempt++ {
		select {
		case start := <-starts:
			if string(start) != directMagic {
				t.Fatalf("connection %d started %q, want the direct protocol's magic", attempt, start)
			}
		case <-ctx.Done():
			t.Fatalf("no connection %d", attempt)
		}
	}
}

// Stop closes the direct connections it serves, even while their senders
// keep them open, and waits for nothing else.
func TestStopClosesIncomingDirectConnections(t *testing.T) {
	ctx := deadline(t)
	b := startNode(t, 2, nil)
	_, reader := acceptedDirect(t, b)
	stopped := make(chan struct{})
	go func() { b.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		t.Fatal("Stop waited for an open direct connection to end")
	}
	if _, err := reader.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("the connection is still open after Stop: %v", err)
	}
}
