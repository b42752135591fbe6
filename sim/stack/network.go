package stack

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/snap"
)

// messageFaults are the network's current misbehaviours: the chance that a
// message is lost, delivered twice, or held back for up to maxDelay.
type messageFaults struct {
	drop, duplicate, delay float64
	maxDelay               time.Duration
}

// Network is node.LocalNetwork with latency and message faults. Each
// message takes between latency/2 and latency to arrive, in order on each
// link, as on a TCP stream; faults drop it, duplicate it, or hold it back
// (so that later messages overtake it), at rates the schedule changes.
// Partitions are the LocalNetwork's cuts; they are checked on delivery, so
// they also catch messages in flight. Delivery is never synchronous: a
// message and its answer cannot ping-pong without time passing.
//
// It is safe for concurrent use: nodes send from their loop goroutines,
// and timers deliver.
type Network struct {
	links   *node.LocalNetwork
	latency time.Duration

	mu     sync.Mutex
	random *rand.Rand
	faults messageFaults
	queues map[[2]raft.NodeID]*linkQueue
	// Counters for the result.
	sent, dropped, duplicated, delayed int
}

// NewNetwork returns a network without faults, with the given latency,
// whose random choices come from seed.
func NewNetwork(seed uint64, latency time.Duration) *Network {
	return &Network{links: node.NewLocalNetwork(), latency: max(latency, 2), random: rand.New(rand.NewPCG(seed, 0x6e6574)),
		queues: map[[2]raft.NodeID]*linkQueue{}}
}

// Transport returns node id's transport on this network.
func (w *Network) Transport(id raft.NodeID) node.Transport {
	return &faultyTransport{Transport: w.links.Transport(id), network: w}
}

// SetFaults sets the chance that a message is dropped, duplicated or
// delayed (by up to maxDelay more); zeros turn message faults off.
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

// send applies latency and faults to one message; deliver hands it to the
// LocalNetwork.
func (w *Network) send(message raft.Message, deliver func(raft.Message)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent++
	f := w.faults
	if w.random.Float64() < f.drop {
		w.dropped++
		return
	}
	copies := 1
	if w.random.Float64() < f.duplicate {
		w.duplicated++
		copies = 2
	}
	link := [2]raft.NodeID{message.From, message.To}
	queue := w.queues[link]
	if queue == nil {
		queue = &linkQueue{}
		w.queues[link] = queue
	}
	for range copies {
		latency := w.latency/2 + time.Duration(w.random.Int64N(int64(w.latency/2)+1))
		if f.maxDelay > 0 && w.random.Float64() < f.delay {
			// Held back outside the link's order: later messages overtake.
			w.delayed++
			time.AfterFunc(latency+time.Duration(w.random.Int64N(int64(f.maxDelay)))+1, func() { deliver(message) })
			continue
		}
		queue.push(message, latency, deliver)
	}
}

// linkQueue delivers one link's messages in the order they were sent.
type linkQueue struct {
	mu      sync.Mutex
	waiting []timedMessage
	last    time.Time // the latest due time queued: due times never go back
}

type timedMessage struct {
	message raft.Message
	due     time.Time
}

// push queues a message due after latency (or after the message before
// it, if that is later) and arms a timer that delivers what is due then.
func (q *linkQueue) push(message raft.Message, latency time.Duration, deliver func(raft.Message)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	due := time.Now().Add(latency)
	if due.Before(q.last) {
		due = q.last
	}
	q.last = due
	q.waiting = append(q.waiting, timedMessage{message: message, due: due})
	time.AfterFunc(time.Until(due), func() { q.deliverDue(deliver) })
}

// deliverDue delivers, in order, every queued message that is due. It
// holds the queue's lock while delivering, so that two timers firing
// together cannot swap messages; delivery only queues the message for the
// receiving node and never blocks.
func (q *linkQueue) deliverDue(deliver func(raft.Message)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	for len(q.waiting) > 0 && !q.waiting[0].due.After(now) {
		deliver(q.waiting[0].message)
		q.waiting = q.waiting[1:]
	}
}

// faultyTransport is one node's transport: the LocalNetwork's, with the
// network's latency and faults applied to what it sends.
type faultyTransport struct {
	node.Transport
	network *Network
}

// UseSnapshotStore implements node.SnapshotStreamer: snapshots travel
// between the nodes' stores as over the gRPC transport (copied when a
// message is delivered), so crashes and disk faults meet staged files.
func (t *faultyTransport) UseSnapshotStore(store *snap.Store) {
	t.Transport.(node.SnapshotStreamer).UseSnapshotStore(store)
}

// Send passes each message through the network. The core may reuse its
// message list after the Ready, but not the messages' contents, so holding
// the Message value until delivery is enough.
func (t *faultyTransport) Send(messages []raft.Message) {
	deliver := func(message raft.Message) { t.Transport.Send([]raft.Message{message}) }
	for _, message := range messages {
		t.network.send(message, deliver)
	}
}
