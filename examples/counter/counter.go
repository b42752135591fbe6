// Command counter is a replicated counter: three lockstep nodes on loopback,
// each applying the same increments in the same order. It is the smallest
// complete use of the public API: a state machine, node.Start with the gRPC
// transport, Propose on the leader, Read on a follower.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/transport"
)

// Counter is the state machine: it adds each command (a big-endian int64).
type Counter struct {
	mu    sync.Mutex
	value int64
}

func (c *Counter) Apply(entries []node.Entry) []node.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	results := make([]node.Result, len(entries))
	for i, entry := range entries {
		c.value += int64(binary.BigEndian.Uint64(entry.Command))
		results[i] = c.value
	}
	return results
}

func (c *Counter) Snapshot() (io.ReadCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return io.NopCloser(strings.NewReader(fmt.Sprint(c.value))), nil
}

func (c *Counter) Restore(image io.Reader) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fscan(image, &c.value)
	return err
}

func (c *Counter) Value() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value
}

// run starts a 3-node cluster under dir, adds 1..increments, and returns the
// value read on a follower.
func run(dir string, increments int) (int64, error) {
	peers := map[raft.NodeID]string{}
	for id := raft.NodeID(1); id <= 3; id++ {
		peers[id] = freeAddress()
	}
	nodes, counters := map[raft.NodeID]*node.Node{}, map[raft.NodeID]*Counter{}
	for id, address := range peers {
		network, err := transport.New(transport.Config{ID: id, ClusterID: 7, ListenAddress: address})
		if err != nil {
			return 0, err
		}
		counters[id] = &Counter{}
		n, err := node.Start(node.Config{ID: id, Directory: fmt.Sprintf("%s/node%d", dir, id), Peers: peers,
			Transport: network, TickInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}, counters[id])
		if err != nil {
			return 0, err
		}
		defer n.Stop()
		nodes[id] = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader := nodes[1]
	for i := 1; i <= increments; {
		_, err := leader.Propose(ctx, binary.BigEndian.AppendUint64(nil, uint64(i)))
		var notLeader *node.NotLeaderError
		switch {
		case errors.As(err, &notLeader) && notLeader.Leader != raft.None:
			leader = nodes[notLeader.Leader]
		case errors.As(err, &notLeader):
			time.Sleep(20 * time.Millisecond) // an election is under way
		case err != nil:
			return 0, err
		default:
			i++
		}
	}
	follower := nodes[1]
	if follower == leader {
		follower = nodes[2]
	}
	if err := follower.Read(ctx); err != nil {
		return 0, err
	}
	for id, n := range nodes {
		if n == follower {
			return counters[id].Value(), nil
		}
	}
	return 0, errors.New("unreachable")
}

// freeAddress returns a loopback address with a port that was free a moment ago.
func freeAddress() string {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer listener.Close()
	return listener.Addr().String()
}

func main() {
	dir, err := os.MkdirTemp("", "lockstep-counter-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	value, err := run(dir, 100)
	if err != nil {
		fmt.Fprintln(os.Stderr, "counter:", err)
		os.Exit(1)
	}
	fmt.Println("counter =", value)
}
