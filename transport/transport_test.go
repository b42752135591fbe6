package transport

import (
	"bytes"
	"net"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

func TestDeliversInOrderBothWays(t *testing.T) {
	ctx := deadline(t)
	a, b := startNode(t, 1, nil), startNode(t, 2, nil)
	connect(a, b)
	const count = 1000
	go func() {
		for i := uint64(1); i <= count; {
			// Batches of varying size, as the runtime hands them over.
			var messages []raft.Message
			for range i%7 + 1 {
				if i <= count {
					messages = append(messages, heartbeat(1, 2, i))
					i++
				}
			}
			a.Send(messages)
			b.Send([]raft.Message{heartbeat(2, 1, i)})
		}
	}()
	for i := uint64(1); i <= count; i++ {
		if m := receive(ctx, t, b); m.Commit != i || m.From != 1 || m.To != 2 {
			t.Fatalf("message %d: got %v", i, m)
		}
	}
	previous := uint64(0)
	for range 100 {
		m := receive(ctx, t, a)
		if m.Commit <= previous {
			t.Fatalf("out of order: %d after %d", m.Commit, previous)
		}
		previous = m.Commit
	}
	if stats := waitForStats(ctx, t, a, func(s Stats) bool { return s.Sent >= count }); stats.DroppedQueueFull != 0 {
		t.Errorf("sender stats %+v", stats)
	}
	if stats := b.Stats(); stats.Received < count {
		t.Errorf("receiver stats %+v", stats)
	}
}

func TestEveryFieldSurvivesTheWire(t *testing.T) {
	ctx := deadline(t)
	a, b := startNode(t, 1, nil), startNode(t, 2, nil)
	connect(a, b)
	// Messages with a snapshot take the snapshot stream, so only the
	// others keep their order: send those, then each snapshot alone.
	var ordered, snapshots []raft.Message
	for _, m := range sampleMessages() {
		m.From, m.To = 1, 2
		if m.Snapshot != nil {
			snapshots = append(snapshots, m)
		} else {
			ordered = append(ordered, m)
		}
	}
	a.Send(ordered)
	for _, want := range ordered {
		if got := receive(ctx, t, b); !reflect.DeepEqual(normalized(want), got) {
			t.Fatalf("sent %#v\n got %#v", want, got)
		}
	}
	for _, want := range snapshots {
		a.Send([]raft.Message{want})
		got := receive(ctx, t, b)
		if !reflect.DeepEqual(normalized(want), got) {
			t.Fatalf("sent %#v\n got %#v", want, got)
		}
		if !reflect.DeepEqual(*normalized(want).Snapshot, *got.Snapshot) {
			t.Fatalf("snapshot changed: sent %#v\n got %#v", *want.Snapshot, *got.Snapshot)
		}
	}
}

func TestBatchesWhatIsQueued(t *testing.T) {
	ctx := deadline(t)
	a, b := startNode(t, 1, nil), startNode(t, 2, nil)
	// Queue 500 messages in one call as the peer is added: they are all
	// queued long before the stream is open (a TCP and HTTP/2 handshake
	// and a header round trip), and go out in a few frames.
	const count = 500
	messages := make([]raft.Message, count)
	for i := range messages {
		messages[i] = heartbeat(1, 2, uint64(i+1))
	}
	a.SetPeer(2, b.Addr().String())
	a.Send(messages)
	for i := 1; i <= count; i++ {
		if m := receive(ctx, t, b); m.Commit != uint64(i) {
			t.Fatalf("message %d: got %v", i, m)
		}
	}
	stats := waitForStats(ctx, t, a, func(s Stats) bool { return s.Sent >= count })
	if stats.BatchesSent == 0 || stats.BatchesSent > count/10 {
		t.Errorf("%d messages went out in %d frames", stats.Sent, stats.BatchesSent)
	}
	t.Logf("%d messages in %d frames", stats.Sent, stats.BatchesSent)
}

func TestReconnectsAfterPeerRestarts(t *testing.T) {
	ctx := deadline(t)
	a, b := startNode(t, 1, nil), startNode(t, 2, nil)
	connect(a, b)
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	receive(ctx, t, b)
	address := b.Addr().String()
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := startNode(t, 2, func(c *Config) { c.ListenAddress = address })
	// Like the raft core, keep sending until the restarted peer hears: the
	// first messages may go into the dead stream.
	resend := time.NewTicker(10 * time.Millisecond)
	defer resend.Stop()
	commit := uint64(2)
	for delivered := false; !delivered; {
		a.Send([]raft.Message{heartbeat(1, 2, commit)})
		commit++
		select {
		case <-restarted.received:
			delivered = true
		case <-resend.C:
		case <-ctx.Done():
			t.Fatal("restarted peer never reached")
		}
	}
	// The new stream delivers in order.
	for i := range uint64(100) {
		a.Send([]raft.Message{heartbeat(1, 2, 1000+i)})
	}
	for i := range uint64(100) {
		for {
			m := receive(ctx, t, restarted)
			if m.Commit >= 1000 {
				if m.Commit != 1000+i {
					t.Fatalf("got %d, want %d", m.Commit, 1000+i)
				}
				break
			}
		}
	}
	if stats := a.Stats().Peers[2]; stats.Reconnects == 0 || !stats.Connected {
		t.Errorf("peer stats after restart: %+v", stats)
	}
}

func TestFullQueueDrops(t *testing.T) {
	// A listener that never accepts: the TCP handshake completes in the
	// kernel, the stream never opens, and the queue is never drained.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	a := startNode(t, 1, func(c *Config) { c.SendQueueLength = 4 })
	a.SetPeer(2, silent.Addr().String())
	for i := range 100 {
		a.Send([]raft.Message{heartbeat(1, 2, uint64(i))})
	}
	a.Send([]raft.Message{heartbeat(1, 3, 1)})
	stats := a.Stats()
	if stats.DroppedQueueFull != 96 || stats.Peers[2].Queued != 4 || stats.Peers[2].DroppedQueueFull != 96 {
		t.Errorf("after 100 messages into a queue of 4: %+v", stats)
	}
	if stats.DroppedUnknownPeer != 1 {
		t.Errorf("message to unknown peer: %+v", stats)
	}
}

func TestOversizedMessageDropped(t *testing.T) {
	ctx := deadline(t)
	limit := func(c *Config) { c.MaxMessageBytes = 1024 }
	a, b := startNode(t, 1, limit), startNode(t, 2, limit)
	connect(a, b)
	big := raft.Message{Type: raft.MessageAppend, From: 1, To: 2, Term: 1, Entries: []raft.Entry{{Index: 1, Term: 1, Data: make([]byte, 2000)}}}
	fits := raft.Message{Type: raft.MessageAppend, From: 1, To: 2, Term: 1, Entries: []raft.Entry{{Index: 1, Term: 1, Data: make([]byte, 900)}}}
	a.Send([]raft.Message{big, fits, heartbeat(1, 2, 5)})
	if m := receive(ctx, t, b); m.Type != raft.MessageAppend || len(m.Entries[0].Data) != 900 {
		t.Fatalf("got %v", m)
	}
	if m := receive(ctx, t, b); m.Commit != 5 {
		t.Fatalf("got %v", m)
	}
	if stats := a.Stats(); stats.DroppedOversized != 1 {
		t.Errorf("stats %+v", stats)
	}
	// Many messages that fit are split into frames that each fit.
	var many []raft.Message
	for i := range 50 {
		m := fits
		m.Commit = uint64(i)
		many = append(many, m)
	}
	a.Send(many)
	for i := range 50 {
		if m := receive(ctx, t, b); m.Commit != uint64(i) {
			t.Fatalf("got %v", m)
		}
	}
}

func TestWrongClusterRefused(t *testing.T) {
	ctx := deadline(t)
	a := startNode(t, 1, nil)
	b := startNode(t, 2, func(c *Config) { c.ClusterID = testClusterID + 1 })
	connect(a, b)
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	b.logs.waitLog(ctx, t, "refusing stream from another cluster")
	a.logs.waitLog(ctx, t, "message stream to peer failed")
	expectNothing(t, b)
	if stats := b.Stats(); stats.RejectedWrongCluster == 0 || stats.Received != 0 {
		t.Errorf("receiver stats %+v", stats)
	}
}

func TestWrongTargetRefused(t *testing.T) {
	ctx := deadline(t)
	a, b := startNode(t, 1, nil), startNode(t, 2, nil)
	// a believes node 3 lives at b's address.
	a.SetPeer(3, b.Addr().String())
	a.Send([]raft.Message{heartbeat(1, 3, 1)})
	b.logs.waitLog(ctx, t, "refusing stream for another node")
	expectNothing(t, b)
	if stats := b.Stats(); stats.RejectedWrongTarget == 0 {
		t.Errorf("receiver stats %+v", stats)
	}
}

func TestRemoveAndMovePeer(t *testing.T) {
	ctx := deadline(t)
	a, b, c := startNode(t, 1, nil), startNode(t, 2, nil), startNode(t, 2, nil)
	a.SetPeer(2, b.Addr().String())
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	receive(ctx, t, b)
	// Node 2 moves to c's address.
	a.SetPeer(2, c.Addr().String())
	a.Send([]raft.Message{heartbeat(1, 2, 2)})
	if m := receive(ctx, t, c); m.Commit != 2 {
		t.Fatalf("got %v", m)
	}
	a.RemovePeer(2)
	a.Send([]raft.Message{heartbeat(1, 2, 3)})
	if stats := a.Stats(); stats.DroppedUnknownPeer != 1 || len(stats.Peers) != 0 {
		t.Errorf("stats %+v", stats)
	}
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	ctx := deadline(t)
	before := runtime.NumGoroutine()
	var nodes []*testNode
	for id := raft.NodeID(1); id <= 3; id++ {
		nodes = append(nodes, startNode(t, id, nil))
	}
	connect(nodes...)
	for _, from := range nodes {
		for _, to := range nodes {
			if from != to {
				from.Send([]raft.Message{heartbeat(from.id, to.id, 1)})
				receive(ctx, t, to)
			}
		}
	}
	snapshot := raft.Message{Type: raft.MessageSnapshot, From: 1, To: 2, Term: 1,
		Snapshot: &raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 5, Term: 1}, Data: bytes.Repeat([]byte{1}, 1<<20)}}
	nodes[0].Send([]raft.Message{snapshot})
	receive(ctx, t, nodes[1])
	for _, node := range nodes {
		if err := node.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	// Stop waits for the transport's own goroutines; gRPC's connection
	// goroutines end asynchronously after Close, so wait for the count to
	// come back, bounded by the test deadline.
	for runtime.NumGoroutine() > before {
		select {
		case <-ctx.Done():
			buffer := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after Stop:\n%s", before, runtime.NumGoroutine(), buffer[:runtime.Stack(buffer, true)])
		case <-time.After(5 * time.Millisecond):
		}
	}
}
