package sim

import (
	"container/heap"

	"github.com/lockstepdb/lockstep/raft"
)

// Simulated time is in microticks: a node's clock ticks every
// tickInterval of them (give or take its skew).
const tickInterval = 100

type eventKind uint8

const (
	eventTick eventKind = iota
	eventDeliver
	eventPersisted
	eventPropose
	eventFault
	eventRestart
	eventHeal
	eventCrash
	eventOperation
	eventRead
	// eventUnreachable is an input: the runtime reports that it could not
	// deliver to message.To (raft.Core.ReportUnreachable).
	eventUnreachable
)

// event is something scheduled to happen at a simulated time.
type event struct {
	at       uint64
	sequence uint64 // ties broken by scheduling order, for determinism
	kind     eventKind
	node     raft.NodeID
	// incarnation guards node-local events against a crash in between.
	incarnation int
	// downtime, for eventCrash, is how long the node stays down; 0 draws
	// the usual 1-30 ticks.
	downtime uint64
	message  raft.Message
	heal     func()
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].sequence < q[j].sequence
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	last := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return last
}

// scheduler owns simulated time.
type scheduler struct {
	now      uint64
	sequence uint64
	queue    eventQueue
}

func (s *scheduler) schedule(delay uint64, e *event) {
	e.at = s.now + delay
	s.sequence++
	e.sequence = s.sequence
	heap.Push(&s.queue, e)
}

func (s *scheduler) next() *event {
	if len(s.queue) == 0 {
		return nil
	}
	e := heap.Pop(&s.queue).(*event)
	s.now = e.at
	return e
}
