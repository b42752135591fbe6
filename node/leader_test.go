package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

func TestWaitForLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 1000)
		// Right after the start no node knows a leader: each waits for
		// the election, and all name the same one.
		var leaders []raft.NodeID
		for id := raft.NodeID(1); id <= 3; id++ {
			leader, err := cluster.nodes[id].WaitForLeader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			leaders = append(leaders, leader)
		}
		if leaders[0] == raft.None || leaders[1] != leaders[0] || leaders[2] != leaders[0] {
			t.Fatalf("leaders seen: %v", leaders)
		}
		status, err := cluster.nodes[leaders[0]].Status(ctx)
		if err != nil || status.Role != raft.RoleLeader {
			t.Fatalf("node %d named leader is %v (%v)", leaders[0], status.Role, err)
		}

		// Alone, a node knows no leader: the wait ends with the context.
		cluster.network.Isolate(1)
		cluster.stop(2)
		cluster.stop(3)
		alone := cluster.nodes[1]
		for {
			if status, _ := alone.Status(ctx); status.Leader == raft.None {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		short, cancelShort := context.WithTimeout(ctx, time.Second)
		defer cancelShort()
		if _, err := alone.WaitForLeader(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("alone: %v, want the context's deadline", err)
		}
		cluster.stop(1)
		if _, err := alone.WaitForLeader(ctx); !errors.Is(err, ErrStopped) {
			t.Fatalf("stopped: %v, want ErrStopped", err)
		}
	})
}

func TestRetryable(t *testing.T) {
	for err, want := range map[error]bool{
		&NotLeaderError{Leader: 2}:                     true,
		&NotLeaderError{}:                              true,
		fmt.Errorf("%w: transfer", ErrDropped):         true,
		fmt.Errorf("%w (deadline)", ErrMaybeCommitted): false,
		ErrStopped: false,
		errors.New("node: command of 9 bytes exceeds 8"): false,
		nil: false,
	} {
		if got := Retryable(err); got != want {
			t.Errorf("Retryable(%v) = %v, want %v", err, got, want)
		}
	}
}

func TestListenAddressStartsTheGRPCTransport(t *testing.T) {
	// A bad address is refused by Start, not later.
	_, err := Start(Config{ID: 1, Directory: "/d", FileSystem: vfs.NewMemFS(), Peers: map[raft.NodeID]string{1: "x"},
		ListenAddress: "256.0.0.1:bad", SegmentBytes: 1 << 20}, &counter{})
	if err == nil {
		t.Fatal("started on a bad listen address")
	}
	// A one-node cluster on loopback elects itself and applies a command.
	n, err := Start(Config{ID: 1, Directory: t.TempDir(), Peers: map[raft.NodeID]string{1: "127.0.0.1:0"},
		ListenAddress: "127.0.0.1:0", TickInterval: 10 * time.Millisecond, SegmentBytes: 1 << 20}, &counter{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if leader, err := n.WaitForLeader(ctx); err != nil || leader != 1 {
		t.Fatalf("leader %d, %v", leader, err)
	}
	if result, err := n.Propose(ctx, add(5)); err != nil || result.(uint64) != 5 {
		t.Fatalf("propose: %v, %v", result, err)
	}
}

// TestTransferToADownNodeIsAbandoned: the core gives up a transfer whose
// target does not take over within an election timeout; TransferLeadership
// must say so instead of waiting for its context, and the leader serves
// again.
func TestTransferToADownNodeIsAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cluster := newTestCluster(t, 3, 1000)
		leader := cluster.leader(ctx)
		target := leader.config.ID%3 + 1
		cluster.stop(target)
		started := time.Now()
		err := leader.TransferLeadership(ctx, target)
		if !errors.Is(err, ErrTransferAbandoned) {
			t.Fatalf("transfer to a stopped node: %v, want ErrTransferAbandoned", err)
		}
		if waited := time.Since(started); waited > 3*leader.electionTimeout() {
			t.Fatalf("the abandoned transfer returned after %v", waited)
		}
		if _, err := leader.Propose(ctx, add(1)); err != nil {
			t.Fatalf("the leader does not serve after the abandoned transfer: %v", err)
		}
	})
}
