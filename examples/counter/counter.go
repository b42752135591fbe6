// Command counter is a replicated counter: three lockstep nodes on loopback,
// over the gRPC transport, apply the same increments in the same order.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
)

// Counter is the replicated state machine: each command adds a number.
type Counter struct{ value atomic.Int64 }

func (c *Counter) Apply(entries []node.Entry) []node.Result {
	results := make([]node.Result, len(entries))
	for i, entry := range entries {
		delta, _ := strconv.ParseInt(string(entry.Command), 10, 64)
		results[i] = c.value.Add(delta)
	}
	return results
}

func (c *Counter) Snapshot() (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(strconv.FormatInt(c.value.Load(), 10))), nil
}

func (c *Counter) Restore(image io.Reader) error {
	var value int64
	_, err := fmt.Fscan(image, &value)
	c.value.Store(value)
	return err
}

// run starts three nodes under dir, adds 1, 2, ..., increments on the
// leader and returns the total that a linearizable read on a follower sees.
func run(dir string, increments int) (int64, error) {
	free := freeAddresses(3)
	peers := map[raft.NodeID]string{1: free[0], 2: free[1], 3: free[2]}
	nodes, counters := map[raft.NodeID]*node.Node{}, map[raft.NodeID]*Counter{}
	for id, address := range peers {
		counters[id] = &Counter{}
		n, err := node.Start(node.Config{ID: id, Directory: filepath.Join(dir, fmt.Sprint(id)), Peers: peers,
			ListenAddress: address, Logger: slog.New(slog.DiscardHandler)}, counters[id])
		if err != nil {
			return 0, err
		}
		defer n.Stop()
		nodes[id] = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leader, err := nodes[1].WaitForLeader(ctx)
	for i := 1; i <= increments && err == nil; {
		if _, err = nodes[leader].Propose(ctx, []byte(strconv.Itoa(i))); err == nil {
			i++
		} else if node.Retryable(err) { // not the leader any more: ask it who is
			leader, err = nodes[leader].WaitForLeader(ctx)
		}
	}
	follower := leader%3 + 1
	if err == nil {
		err = nodes[follower].Read(ctx)
	}
	return counters[follower].value.Load(), err
}

// freeAddresses returns count loopback addresses whose ports were free a moment ago.
func freeAddresses(count int) (addresses []string) {
	for range count { // all held open until all are picked, so none repeats
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		defer listener.Close()
		addresses = append(addresses, listener.Addr().String())
	}
	return addresses
}

func main() {
	dir, err := os.MkdirTemp("", "lockstep-counter-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	total, err := run(dir, 100)
	fmt.Println("counter =", total, err)
}
