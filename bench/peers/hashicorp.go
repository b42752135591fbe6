package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// hashicorpFSM adapts counter to raft.FSM.
type hashicorpFSM struct{ counter }

func (f *hashicorpFSM) Apply(log *raft.Log) any {
	if log.Type != raft.LogCommand {
		return nil
	}
	return f.add(log.Data)
}

func (f *hashicorpFSM) Snapshot() (raft.FSMSnapshot, error) {
	return counterSnapshot(f.snapshot()), nil
}

func (f *hashicorpFSM) Restore(image io.ReadCloser) error {
	defer image.Close()
	data, err := io.ReadAll(image)
	if err != nil {
		return err
	}
	f.restore(data)
	return nil
}

type counterSnapshot []byte

func (s counterSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (counterSnapshot) Release() {}

type hashicorpNode struct {
	raft      *raft.Raft
	fsm       *hashicorpFSM
	store     *raftboltdb.BoltStore
	transport *raft.NetworkTransport
}

type hashicorpCluster struct {
	nodes  []*hashicorpNode
	leader *hashicorpNode
}

// hashicorpConfig is hashicorp/raft's DefaultConfig with the timing of the
// comparison (heartbeats every 100 ms, election timeout 1 s) and snapshots
// pushed out of reach.
func hashicorpConfig(id raft.ServerID) *raft.Config {
	config := raft.DefaultConfig()
	config.LocalID = id
	config.HeartbeatTimeout = time.Second // the leader heartbeats every HeartbeatTimeout/10
	config.ElectionTimeout = time.Second
	config.LeaderLeaseTimeout = 500 * time.Millisecond
	config.SnapshotThreshold = 1 << 40 // never reached in a phase
	config.SnapshotInterval = 24 * time.Hour
	config.NoSnapshotRestoreOnStart = true
	config.Logger = hclog.NewNullLogger()
	return config
}

// startHashicorp starts a 3-node hashicorp/raft cluster over its TCP
// transport on 127.0.0.1, each node with a raft-boltdb/v2 log and stable
// store (fsync on) under dir, and waits for a leader.
func startHashicorp(dir string, logCache int) (*hashicorpCluster, error) {
	c := &hashicorpCluster{}
	quiet := hclog.NewNullLogger()
	var servers []raft.Server
	for i := 1; i <= 3; i++ {
		nodeDir := filepath.Join(dir, fmt.Sprintf("node%d", i))
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			c.stop()
			return nil, err
		}
		store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(nodeDir, "raft.db"), NoSync: false})
		if err != nil {
			c.stop()
			return nil, err
		}
		trans, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 10*time.Second, quiet)
		if err != nil {
			store.Close()
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, &hashicorpNode{fsm: &hashicorpFSM{}, store: store, transport: trans})
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(fmt.Sprint(i)), Address: trans.LocalAddr()})
	}
	configuration := raft.Configuration{Servers: servers}
	for i, n := range c.nodes {
		nodeDir := filepath.Join(dir, fmt.Sprintf("node%d", i+1))
		config := hashicorpConfig(servers[i].ID)
		snapshots, err := raft.NewFileSnapshotStoreWithLogger(nodeDir, 1, hclog.NewNullLogger())
		if err != nil {
			c.stop()
			return nil, err
		}
		var logs raft.LogStore = n.store
		if logCache > 0 {
			if logs, err = raft.NewLogCache(logCache, n.store); err != nil {
				c.stop()
				return nil, err
			}
		}
		if err := raft.BootstrapCluster(config, logs, n.store, snapshots, n.transport, configuration); err != nil {
			c.stop()
			return nil, err
		}
		if n.raft, err = raft.NewRaft(config, n.fsm, logs, n.store, snapshots, n.transport); err != nil {
			c.stop()
			return nil, err
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.raft.State() == raft.Leader {
				c.leader = n
				return c, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.stop()
	return nil, errors.New("hashicorp: no leader elected within 20s")
}

func (c *hashicorpCluster) apply(ctx context.Context, command []byte) error {
	timeout := 10 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	return c.leader.raft.Apply(command, timeout).Error()
}

func (c *hashicorpCluster) applied() (uint64, uint64) {
	return c.leader.fsm.count.Load(), c.leader.fsm.sum.Load()
}

func (c *hashicorpCluster) stop() error {
	var errs []error
	for _, n := range c.nodes {
		if n.raft != nil {
			errs = append(errs, n.raft.Shutdown().Error())
		}
		if n.transport != nil {
			errs = append(errs, n.transport.Close())
		}
		if n.store != nil {
			errs = append(errs, n.store.Close())
		}
	}
	return errors.Join(errs...)
}
