package node

import (
	"sync"

	"github.com/lockstepdb/lockstep/raft"
)

// LocalNetwork connects nodes in one process, for tests and examples. It can
// cut links to simulate partitions. It is safe for concurrent use.
type LocalNetwork struct {
	mu       sync.Mutex
	handlers map[raft.NodeID]func(raft.Message)
	cut      map[[2]raft.NodeID]bool
}

// NewLocalNetwork returns an empty network.
func NewLocalNetwork() *LocalNetwork {
	return &LocalNetwork{handlers: map[raft.NodeID]func(raft.Message){}, cut: map[[2]raft.NodeID]bool{}}
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

func (t *localTransport) Send(messages []raft.Message) {
	for _, m := range messages {
		t.network.mu.Lock()
		handler := t.network.handlers[m.To]
		blocked := t.network.cut[[2]raft.NodeID{m.From, m.To}]
		t.network.mu.Unlock()
		if handler != nil && !blocked {
			handler(m)
		}
	}
}

func (t *localTransport) SetPeer(raft.NodeID, string) {}
func (t *localTransport) RemovePeer(raft.NodeID)      {}

func (t *localTransport) Stop() error {
	t.network.mu.Lock()
	defer t.network.mu.Unlock()
	delete(t.network.handlers, t.id)
	return nil
}
