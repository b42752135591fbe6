package node

import (
	"fmt"
	"io"
	"sync"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
)

// LocalNetwork connects nodes in one process, for tests and examples. It can
// cut links to simulate partitions. Like the gRPC transport, it streams
// snapshots between the nodes' snapshot stores (SnapshotStreamer): a
// snapshot is copied from the sender's file into a staged file of the
// receiver's store when it is delivered, so that tests and the simulator
// run the same path as a real cluster. It is safe for concurrent use.
type LocalNetwork struct {
	mu       sync.Mutex
	handlers map[raft.NodeID]func(raft.Message)
	stores   map[raft.NodeID]*snap.Store
	cut      map[[2]raft.NodeID]bool
}

// NewLocalNetwork returns an empty network.
func NewLocalNetwork() *LocalNetwork {
	return &LocalNetwork{handlers: map[raft.NodeID]func(raft.Message){}, stores: map[raft.NodeID]*snap.Store{},
		cut: map[[2]raft.NodeID]bool{}}
}

// Transport returns the transport of node id on this network.
func (w *LocalNetwork) Transport(id raft.NodeID) Transport {
	return &localTransport{network: w, id: id}
}

// Cut drops every message from one node to another until Heal.
func (w *LocalNetwork) Cut(from, to raft.NodeID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cut[[2]raft.NodeID{from, to}] = true
}

// Isolate cuts a node off from every other, both ways.
func (w *LocalNetwork) Isolate(id raft.NodeID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for other := range w.handlers {
		if other != id {
			w.cut[[2]raft.NodeID{id, other}] = true
			w.cut[[2]raft.NodeID{other, id}] = true
		}
	}
}

// Heal restores every link.
func (w *LocalNetwork) Heal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cut = map[[2]raft.NodeID]bool{}
}

type localTransport struct {
	network *LocalNetwork
	id      raft.NodeID
}

func (t *localTransport) Start(handler func(raft.Message)) error {
	t.network.mu.Lock()
	defer t.network.mu.Unlock()
	t.network.handlers[t.id] = handler
	return nil
}

// UseSnapshotStore implements SnapshotStreamer.
func (t *localTransport) UseSnapshotStore(store *snap.Store) {
	t.network.mu.Lock()
	defer t.network.mu.Unlock()
	t.network.stores[t.id] = store
}

func (t *localTransport) Send(messages []raft.Message) {
	for _, m := range messages {
		t.network.mu.Lock()
		handler := t.network.handlers[m.To]
		blocked := t.network.cut[[2]raft.NodeID{m.From, m.To}]
		from, to := t.network.stores[m.From], t.network.stores[m.To]
		t.network.mu.Unlock()
		if handler == nil || blocked {
			continue
		}
		if m.Snapshot != nil && m.Snapshot.Data == nil {
			// A failed copy is a failed transfer: the core resends.
			var err error
			if m, err = copySnapshot(m, from, to); err != nil {
				continue
			}
		}
		handler(m)
	}
}

// copySnapshot carries a snapshot message without data from the sending
// node's store to the receiving node's: into a staged file if the
// receiver streams too (the message then goes on without data), or into
// the message if it does not.
func copySnapshot(m raft.Message, from, to *snap.Store) (raft.Message, error) {
	if from == nil {
		return m, fmt.Errorf("node: snapshot %d without data from a node that does not stream", m.Snapshot.Metadata.Index)
	}
	data, err := from.OpenData(m.Snapshot.Metadata)
	if err != nil {
		return m, err
	}
	defer data.Close()
	if to == nil {
		snapshot := *m.Snapshot
		if snapshot.Data, err = io.ReadAll(data); err != nil {
			return m, err
		}
		m.Snapshot = &snapshot
		return m, nil
	}
	incoming, err := to.Receive(m.Snapshot.Metadata, uint64(data.Size()))
	if err != nil {
		return m, err
	}
	if _, err := io.Copy(incoming, data); err != nil {
		incoming.Abort()
		return m, err
	}
	return m, incoming.Finish()
}

func (t *localTransport) SetPeer(raft.NodeID, string) {}
func (t *localTransport) RemovePeer(raft.NodeID)      {}

func (t *localTransport) Stop() error {
	t.network.mu.Lock()
	defer t.network.mu.Unlock()
	delete(t.network.handlers, t.id)
	delete(t.network.stores, t.id)
	return nil
}
