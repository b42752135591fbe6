package node_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/vfs"
)

// register is a state machine holding one string.
type register struct {
	mu    sync.Mutex
	value string
}

func (r *register) Apply(entries []node.Entry) []node.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	results := make([]node.Result, len(entries))
	for i, entry := range entries {
		r.value = string(entry.Command)
		results[i] = "stored " + r.value
	}
	return results
}

func (r *register) Snapshot() (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return io.NopCloser(bytes.NewReader([]byte(r.value))), nil
}

func (r *register) Restore(image io.Reader) error {
	data, err := io.ReadAll(image)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.value = string(data)
	return err
}

// Example runs a three-node cluster in one process and replicates a value.
func Example() {
	network := node.NewLocalNetwork()
	disk := vfs.NewMemFS() // vfs.OS (the default) in production
	peers := map[raft.NodeID]string{1: "node-1", 2: "node-2", 3: "node-3"}
	var nodes []*node.Node
	for id := range peers {
		n, err := node.Start(node.Config{
			ID: id, Directory: "/data/" + strconv.Itoa(int(id)), FileSystem: disk,
			Peers: peers, Transport: network.Transport(id), TickInterval: 10 * time.Millisecond, SegmentBytes: 1 << 20,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}, &register{})
		if err != nil {
			panic(err)
		}
		defer n.Stop()
		nodes = append(nodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Any node will do: a follower answers with the leader to try.
	target := nodes[0]
	for {
		result, err := target.Propose(ctx, []byte("hello"))
		if notLeader, ok := err.(*node.NotLeaderError); ok {
			for _, n := range nodes {
				if status, _ := n.Status(ctx); status.ID == notLeader.Leader {
					target = n
				}
			}
			time.Sleep(10 * time.Millisecond) // an election may be running
			continue
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(result)
		break
	}
	// Output: stored hello
}

// ExampleSeed starts a new cluster from a state machine's image, as
// disaster recovery does with a backup: every member is seeded with the
// same image, index and peers, then started.
func ExampleSeed() {
	network := node.NewLocalNetwork()
	disk := vfs.NewMemFS()
	peers := map[raft.NodeID]string{1: "node-1", 2: "node-2", 3: "node-3"}
	machines := map[raft.NodeID]*register{}
	for id := range peers {
		directory := "/data/" + strconv.Itoa(int(id))
		// The image a register's Snapshot writes, standing for entry 500.
		err := node.Seed(node.SeedConfig{Directory: directory, FileSystem: disk, Peers: peers, Index: 500,
			SegmentBytes: 1 << 20, Image: bytes.NewReader([]byte("from the backup"))})
		if err != nil {
			panic(err)
		}
		machines[id] = &register{}
		n, err := node.Start(node.Config{
			ID: id, Directory: directory, FileSystem: disk, Peers: peers, Transport: network.Transport(id),
			TickInterval: 10 * time.Millisecond, SegmentBytes: 1 << 20, Logger: slog.New(slog.DiscardHandler),
		}, machines[id])
		if err != nil {
			panic(err)
		}
		defer n.Stop()
	}
	// Start restored every register from the seeded snapshot.
	fmt.Println(machines[1].value, "|", machines[2].value, "|", machines[3].value)
	// Output: from the backup | from the backup | from the backup
}
