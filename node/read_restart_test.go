package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// filteringTransport drops the messages its filter refuses and keeps those
// the capture function asks for, and remembers its handler, so that a
// test can deliver a kept message later.
type filteringTransport struct {
	Transport
	mu      sync.Mutex
	refuse  func(raft.Message) bool
	keep    func(raft.Message) bool
	kept    []raft.Message
	handler func(raft.Message)
}

func (t *filteringTransport) Start(handler func(raft.Message)) error {
	t.mu.Lock()
	t.handler = handler
	t.mu.Unlock()
	return t.Transport.Start(handler)
}

func (t *filteringTransport) Send(messages []raft.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range messages {
		switch {
		case t.keep != nil && t.keep(m):
			t.kept = append(t.kept, m)
		case t.refuse == nil || !t.refuse(m):
			t.Transport.Send([]raft.Message{m})
		}
	}
}

// TestReadAnswerFromBeforeARestartIsIgnored: a follower's read is
// answered by the leader, but the answer is delayed past the follower's
// restart. The restarted follower must not take it as the answer to its
// own new read (read requests were numbered from 1 again on every start),
// or the read returns at the old index and sees stale state. Found by the
// whole-stack simulator (sim/stack, seed 59 with 5 nodes).
func TestReadAnswerFromBeforeARestartIsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		network := NewLocalNetwork()
		disk := vfs.NewMemFS()
		peers := map[raft.NodeID]string{1: "node-1", 2: "node-2", 3: "node-3"}
		transports := map[raft.NodeID]*filteringTransport{}
		start := func(id raft.NodeID, machine *counter) *Node {
			transports[id] = &filteringTransport{Transport: network.Transport(id)}
			n, err := Start(Config{ID: id, Directory: fmt.Sprintf("/data/%d", id), FileSystem: disk, Peers: peers,
				Transport: transports[id], TickInterval: 10 * time.Millisecond, SnapshotEntries: -1, SegmentBytes: 1 << 20,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, machine)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		nodes := map[raft.NodeID]*Node{}
		for id := raft.NodeID(1); id <= 3; id++ {
			nodes[id] = start(id, &counter{})
		}
		defer func() {
			for _, n := range nodes {
				n.Stop()
			}
		}()
		leader := waitForLeaderAmong(ctx, t, nodes)
		follower := raft.NodeID(3)
		if leader.config.ID == follower {
			follower = 2
		}
		if _, err := leader.Propose(ctx, add(1)); err != nil {
			t.Fatal(err)
		}

		// The follower's read is answered, but the answer is held back.
		holdAnswer := transports[leader.config.ID]
		holdAnswer.mu.Lock()
		holdAnswer.keep = func(m raft.Message) bool { return m.Type == raft.MessageReadIndexResponse && m.To == follower }
		holdAnswer.mu.Unlock()
		short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
		if err := nodes[follower].Read(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read with its answer held back: %v", err)
		}
		cancelShort()
		holdAnswer.mu.Lock()
		late := holdAnswer.kept
		holdAnswer.keep = nil
		holdAnswer.mu.Unlock()
		if len(late) == 0 {
			t.Fatal("the leader never answered the read")
		}

		// The follower restarts; meanwhile the cluster moves on. Appends
		// and its own read requests are kept from it, so it stays behind.
		if err := nodes[follower].Stop(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if _, err := leader.Propose(ctx, add(10)); err != nil {
				t.Fatal(err)
			}
		}
		holdAnswer.mu.Lock()
		holdAnswer.refuse = func(m raft.Message) bool { return m.Type == raft.MessageAppend && m.To == follower }
		holdAnswer.mu.Unlock()
		machine := &counter{}
		nodes[follower] = start(follower, machine)
		transports[follower].mu.Lock()
		transports[follower].refuse = func(m raft.Message) bool { return m.Type == raft.MessageReadIndex }
		transports[follower].mu.Unlock()
		for {
			status, err := nodes[follower].Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if status.Leader != raft.None {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}

		// A new read; then the old answer arrives.
		readDone := make(chan error, 1)
		go func() { readDone <- nodes[follower].Read(ctx) }()
		synctest.Wait()
		for _, m := range late {
			transports[follower].handler(m)
		}
		synctest.Wait()
		select {
		case err := <-readDone:
			t.Fatalf("the read returned (%v) on an answer sent before the restart; the follower sees %d, the cluster committed 51", err, machine.value())
		default:
		}
		// Once its messages flow again, the read completes, up to date.
		holdAnswer.mu.Lock()
		holdAnswer.refuse = nil
		holdAnswer.mu.Unlock()
		transports[follower].mu.Lock()
		transports[follower].refuse = nil
		transports[follower].mu.Unlock()
		if err := <-readDone; err != nil {
			t.Fatal(err)
		}
		if got := machine.value(); got != 51 {
			t.Fatalf("the follower reads %d, want 51", got)
		}
	})
}

// waitForLeaderAmong waits (in simulated time) for one of nodes to lead.
func waitForLeaderAmong(ctx context.Context, t *testing.T, nodes map[raft.NodeID]*Node) *Node {
	t.Helper()
	for {
		for _, n := range nodes {
			if status, err := n.Status(ctx); err == nil && status.Role == raft.RoleLeader {
				return n
			}
		}
		if ctx.Err() != nil {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
