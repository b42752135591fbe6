package transport

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// testTimeout bounds every wait: it is how long a test may hang before it
// fails, never what a test measures.
const testTimeout = 30 * time.Second

const testClusterID = 7

// testNode is a started transport and the channel its handler feeds.
type testNode struct {
	*Transport
	id       raft.NodeID
	received chan raft.Message
	logs     *logRecorder
}

func deadline(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startNode starts a transport on a free loopback port; adjust changes the
// configuration first. The transport is stopped when the test ends.
func startNode(t testing.TB, id raft.NodeID, adjust func(*Config)) *testNode {
	t.Helper()
	return startNodeBefore(t, id, adjust, nil)
}

// startNodeBefore is startNode with a hook run on the transport before it
// starts.
func startNodeBefore(t testing.TB, id raft.NodeID, adjust func(*Config), before func(*Transport)) *testNode {
	t.Helper()
	logs := newLogRecorder()
	config := Config{ID: id, ClusterID: testClusterID, ListenAddress: "127.0.0.1:0", Logger: slog.New(logs)}
	if adjust != nil {
		adjust(&config)
	}
	transport, err := New(config)
	if err != nil {
		t.Fatal(err)
	}
	node := &testNode{Transport: transport, id: id, received: make(chan raft.Message, 10000), logs: logs}
	if before != nil {
		before(transport)
	}
	if err := transport.Start(func(m raft.Message) { node.received <- m }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { transport.Stop() })
	return node
}

// connect makes each node a peer of every other.
func connect(nodes ...*testNode) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.SetPeer(b.id, b.Addr().String())
			}
		}
	}
}

// receive waits for the next message a node receives.
func receive(ctx context.Context, t testing.TB, node *testNode) raft.Message {
	t.Helper()
	select {
	case m := <-node.received:
		return m
	case <-ctx.Done():
		t.Fatalf("node %d received nothing: %v", node.id, ctx.Err())
		return raft.Message{}
	}
}

// waitForStats waits until a node's statistics satisfy ok and returns
// them. A sender counts a frame only after gRPC's SendMsg returns, which
// can be after the receiver has already handled it, so a test that reads
// the sender's counters right after a receive must wait for them.
func waitForStats(ctx context.Context, t testing.TB, node *testNode, ok func(Stats) bool) Stats {
	t.Helper()
	for {
		stats := node.Stats()
		if ok(stats) {
			return stats
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node %d: statistics never got there: %+v", node.id, stats)
			return stats
		case <-time.After(time.Millisecond):
		}
	}
}

// expectNothing checks that a node has received nothing so far.
func expectNothing(t testing.TB, node *testNode) {
	t.Helper()
	select {
	case m := <-node.received:
		t.Fatalf("node %d received unexpected %v", node.id, m)
	default:
	}
}

func heartbeat(from, to raft.NodeID, commit uint64) raft.Message {
	return raft.Message{Type: raft.MessageHeartbeat, From: from, To: to, Term: 1, Commit: commit}
}

// logRecorder is a slog.Handler that forwards every record's message to a
// channel, so tests can wait for an event the transport logs (a refused
// stream, a discarded snapshot) instead of polling. With LOCKSTEP_TEST_LOGS
// set it also prints the records.
type logRecorder struct {
	messages chan string
	print    bool
}

func newLogRecorder() *logRecorder {
	return &logRecorder{messages: make(chan string, 4096), print: os.Getenv("LOCKSTEP_TEST_LOGS") != ""}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, record slog.Record) error {
	if l.print {
		var text strings.Builder
		record.Attrs(func(a slog.Attr) bool { text.WriteString(" " + a.String()); return true })
		println(record.Level.String(), record.Message, text.String())
	}
	select {
	case l.messages <- record.Message:
	default:
	}
	return nil
}

// waitLog waits until the node logs a message containing text.
func (l *logRecorder) waitLog(ctx context.Context, t testing.TB, text string) {
	t.Helper()
	for {
		select {
		case message := <-l.messages:
			if strings.Contains(message, text) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("no log message containing %q: %v", text, ctx.Err())
		}
	}
}
