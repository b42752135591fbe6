package stack

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
)

// messageFaults are the network's current misbehaviours: the chance that a
// message is lost, delivered twice, or held back for up to maxDelay.
type messageFaults struct {
	drop, duplicate, delay float64
	maxDelay               time.Duration
}

// Network is node.LocalNetwork with message faults: each node's Transport
// drops, duplicates and delays what it sends, at rates the schedule
// changes. Partitions are the LocalNetwork's cuts; they are checked when a
// message is delivered, so they also catch messages held back in flight.
// It is safe for concurrent use: nodes send from their loop goroutines.
type Network struct {
	links *node.LocalNetwork

	mu     sync.Mutex
	random *rand.Rand
	faults messageFaults
	// Counters for the result.
	sent, dropped, duplicated, delayed int
}

// NewNetwork returns a network without faults whose random choices come
// from seed.
func NewNetwork(seed uint64) *Network {
	return &Network{links: node.NewLocalNetwork(), random: rand.New(rand.NewPCG(seed, 0x6e6574))}
}

// Transport returns node id's transport on this network.
func (w *Network) Transport(id raft.NodeID) node.Transport {
	return &faultyTransport{Transport: w.links.Transport(id), network: w}
}

// SetFaults sets the chance that a message is dropped, duplicated or
// delayed (by up to maxDelay); zeros turn message faults off.
func (w *Network) SetFaults(drop, duplicate, delay float64, maxDelay time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.faults = messageFaults{drop: drop, duplicate: duplicate, delay: delay, maxDelay: maxDelay}
}

// Partition cuts every link between the two sides, both ways.
func (w *Network) Partition(side, otherSide []raft.NodeID) {
	for _, a := range side {
		for _, b := range otherSide {
			w.links.Cut(a, b)
			w.links.Cut(b, a)
		}
	}
}

// Cut drops every message from one node to another until Heal.
func (w *Network) Cut(from, to raft.NodeID) { w.links.Cut(from, to) }

// Heal restores every link (message faults stay as set).
func (w *Network) Heal() { w.links.Heal() }

// plan decides the fate of one message: how many copies leave, and after
// what delay each.
func (w *Network) plan() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent++
	f := w.faults
	if w.random.Float64() < f.drop {
		w.dropped++
		return nil
	}
	copies := 1
	if w.random.Float64() < f.duplicate {
		w.duplicated++
		copies = 2
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		if f.maxDelay > 0 && w.random.Float64() < f.delay {
			w.delayed++
			delays[i] = time.Duration(w.random.Int64N(int64(f.maxDelay))) + 1
		}
	}
	return delays
}

// faultyTransport is one node's transport: the LocalNetwork's, with the
// network's faults applied to what it sends.
type faultyTransport struct {
	node.Transport
	network *Network
}

// Send applies the faults to each message. A delayed copy is delivered by
// a timer: the core may reuse its message list after the Ready, but not the
// messages' contents, so holding the Message value is enough.
func (t *faultyTransport) Send(messages []raft.Message) {
	for _, message := range messages {
		for _, delay := range t.network.plan() {
			if delay == 0 {
				t.Transport.Send([]raft.Message{message})
				continue
			}
			time.AfterFunc(delay, func() { t.Transport.Send([]raft.Message{message}) })
		}
	}
}
