package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/transport"
)

// lockstepFSM adapts counter to node.StateMachine.
type lockstepFSM struct{ counter }

func (f *lockstepFSM) Apply(entries []node.Entry) []node.Result {
	results := make([]node.Result, len(entries))
	for i, entry := range entries {
		results[i] = f.add(entry.Command)
	}
	return results
}

func (f *lockstepFSM) Snapshot() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(f.snapshot())), nil
}

func (f *lockstepFSM) Restore(image io.Reader) error {
	data, err := io.ReadAll(image)
	if err != nil {
		return err
	}
	f.restore(data)
	return nil
}

type lockstepCluster struct {
	nodes  map[raft.NodeID]*node.Node
	fsms   map[raft.NodeID]*lockstepFSM
	leader raft.NodeID
}

// startLockstep starts a 3-node lockstep cluster over the gRPC transport on
// 127.0.0.1, with data under dir, and waits for a leader.
func startLockstep(dir string) (*lockstepCluster, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a port found free may be taken by the time we listen
		c, err := tryStartLockstep(filepath.Join(dir, fmt.Sprintf("try%d", attempt)))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// asyncPersistence is the -async flag.
var asyncPersistence = true

func tryStartLockstep(dir string) (*lockstepCluster, error) {
	peers := map[raft.NodeID]string{}
	for id := raft.NodeID(1); id <= 3; id++ {
		address, err := freeAddress()
		if err != nil {
			return nil, err
		}
		peers[id] = address
	}
	c := &lockstepCluster{nodes: map[raft.NodeID]*node.Node{}, fsms: map[raft.NodeID]*lockstepFSM{}}
	quiet := slog.New(slog.DiscardHandler)
	for id := raft.NodeID(1); id <= 3; id++ {
		network, err := transport.New(transport.Config{ID: id, ClusterID: 1, ListenAddress: peers[id], Logger: quiet})
		if err != nil {
			c.stop()
			return nil, err
		}
		fsm := &lockstepFSM{}
		n, err := node.Start(node.Config{
			ID:              id,
			Directory:       filepath.Join(dir, fmt.Sprintf("node%d", id)),
			Peers:           peers,
			Transport:       network,
			TickInterval:    100 * time.Millisecond,
			ElectionTicks:   10,
			HeartbeatTicks:  1,
			SnapshotEntries: 1 << 30, // never reached in a phase: no snapshot mid-run
			// As lockstep serve runs: the loop steps acknowledgements
			// during its own fsync (-async=false for the synchronous loop).
			AsyncPersistence: asyncPersistence,
			Logger:           quiet,
		}, fsm)
		if err != nil {
			network.Stop()
			c.stop()
			return nil, fmt.Errorf("lockstep node %d: %w", id, err)
		}
		c.nodes[id], c.fsms[id] = n, fsm
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for id, n := range c.nodes {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			status, err := n.Status(ctx)
			cancel()
			if err == nil && status.Role == raft.RoleLeader {
				c.leader = id
				return c, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.stop()
	return nil, errors.New("lockstep: no leader elected within 20s")
}

func (c *lockstepCluster) apply(ctx context.Context, command []byte) error {
	_, err := c.nodes[c.leader].Propose(ctx, command)
	return err
}

func (c *lockstepCluster) applied() (uint64, uint64) {
	f := c.fsms[c.leader]
	return f.count.Load(), f.sum.Load()
}

func (c *lockstepCluster) stop() error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.Stop())
	}
	return errors.Join(errs...)
}

// freeAddress returns a loopback address whose port was free a moment ago.
func freeAddress() (string, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer listener.Close()
	return listener.Addr().String(), nil
}
