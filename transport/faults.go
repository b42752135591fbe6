package transport

import (
	"context"
	"sync"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// FaultHook injects network faults into one or more transports at run time:
// dropped and delayed messages, blocked links (partitions, one-way or both
// ways), interrupted and stalled snapshot transfers. Tests share one hook
// between the transports of a cluster, or give each its own; links are named
// by sender and receiver, so either way works.
//
// The zero value injects no faults and is ready to use. All methods are safe
// for concurrent use, including while the transports using the hook run.
type FaultHook struct {
	mu         sync.Mutex
	blocked    map[link]bool
	drop       func(raft.Message) bool
	delay      func(raft.Message) time.Duration
	interrupts map[link]int64
	stall      *snapshotStall
}

type link struct{ from, to raft.NodeID }

type snapshotStall struct {
	stalledOnce sync.Once
	stalled     chan struct{}
	released    chan struct{}
}

// Block cuts the link from one node to another: messages and snapshots
// sent by from to to are dropped (and counted) by the sender and, if they
// got through, by the receiver. The reverse direction is unaffected.
func (f *FaultHook) Block(from, to raft.NodeID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked == nil {
		f.blocked = make(map[link]bool)
	}
	f.blocked[link{from, to}] = true
}

// Unblock restores the link from one node to another.
func (f *FaultHook) Unblock(from, to raft.NodeID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.blocked, link{from, to})
}

// Partition blocks both directions between a and b.
func (f *FaultHook) Partition(a, b raft.NodeID) {
	f.Block(a, b)
	f.Block(b, a)
}

// Heal restores both directions between a and b.
func (f *FaultHook) Heal(a, b raft.NodeID) {
	f.Unblock(a, b)
	f.Unblock(b, a)
}

// HealAll restores every link and removes the drop and delay functions and
// snapshot interruptions. A stall started by StallSnapshots stays until it
// is released.
func (f *FaultHook) HealAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked = nil
	f.drop = nil
	f.delay = nil
	f.interrupts = nil
}

// SetDrop installs a function that decides, for each message a transport is
// asked to send, whether to drop it; nil removes it. The function is called
// from the goroutine calling Transport.Send, possibly from several at once,
// and must be cheap and safe for concurrent use.
func (f *FaultHook) SetDrop(drop func(raft.Message) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop = drop
}

// SetDelay installs a function that gives, for each message a transport is
// asked to send, how long to hold it before it is written; nil removes it.
// Delays preserve the order of messages to a peer: a message is written no
// earlier than its own deadline and after every message queued before it.
// Snapshots are not delayed. Same calling contract as SetDrop.
func (f *FaultHook) SetDelay(delay func(raft.Message) time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = delay
}

// InterruptSnapshots makes senders abort every snapshot transfer from one
// node to another once afterBytes bytes of its data have been sent, as if
// the connection broke mid-transfer. A negative afterBytes removes the
// interruption.
func (f *FaultHook) InterruptSnapshots(from, to raft.NodeID, afterBytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if afterBytes < 0 {
		delete(f.interrupts, link{from, to})
		return
	}
	if f.interrupts == nil {
		f.interrupts = make(map[link]int64)
	}
	f.interrupts[link{from, to}] = afterBytes
}

// StallSnapshots makes every receiver using this hook stop reading snapshot
// data after the first chunk of a transfer, as a slow disk would, until
// release is called. stalled is closed once a receiver is waiting. Flow
// control then stops the sender too; other traffic keeps flowing. release
// may be called more than once.
func (f *FaultHook) StallSnapshots() (stalled <-chan struct{}, release func()) {
	stall := &snapshotStall{stalled: make(chan struct{}), released: make(chan struct{})}
	f.mu.Lock()
	f.stall = stall
	f.mu.Unlock()
	var once sync.Once
	return stall.stalled, func() {
		once.Do(func() {
			f.mu.Lock()
			if f.stall == stall {
				f.stall = nil
			}
			f.mu.Unlock()
			close(stall.released)
		})
	}
}

// The helpers below are what the transport calls; all accept a nil hook.

func (f *FaultHook) isBlocked(from, to raft.NodeID) bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked[link{from, to}]
}

// shouldDrop reports whether a message about to be queued is dropped, and
// otherwise how long it must be held.
func (f *FaultHook) shouldDrop(m raft.Message) (drop bool, delay time.Duration) {
	if f == nil {
		return false, 0
	}
	f.mu.Lock()
	blocked, dropFunc, delayFunc := f.blocked[link{m.From, m.To}], f.drop, f.delay
	f.mu.Unlock()
	if blocked || (dropFunc != nil && dropFunc(m)) {
		return true, 0
	}
	if delayFunc != nil {
		delay = delayFunc(m)
	}
	return false, delay
}

// snapshotInterrupted reports whether a transfer from→to that has sent
// sentBytes must be aborted.
func (f *FaultHook) snapshotInterrupted(from, to raft.NodeID, sentBytes int64) bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	limit, ok := f.interrupts[link{from, to}]
	return (ok && sentBytes >= limit) || f.blocked[link{from, to}]
}

// waitSnapshotStall blocks a snapshot receiver while a stall is active.
func (f *FaultHook) waitSnapshotStall(ctx context.Context) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	stall := f.stall
	f.mu.Unlock()
	if stall == nil {
		return nil
	}
	stall.stalledOnce.Do(func() { close(stall.stalled) })
	select {
	case <-stall.released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
