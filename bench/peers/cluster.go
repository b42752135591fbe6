package main

import (
	"context"
	"encoding/binary"
	"sync/atomic"
)

// cluster is a running 3-node cluster of one library, with a known leader.
type cluster interface {
	// apply replicates one command through the leader and returns once the
	// leader has applied it (both libraries' Apply/Propose semantics).
	apply(ctx context.Context, command []byte) error
	// applied is the number of commands and the sum of their values that
	// the leader's state machine has applied.
	applied() (count, sum uint64)
	// stop shuts every node down and closes its storage and sockets.
	stop() error
}

// counter is the trivial state machine of both clusters: it counts the
// commands it applies and sums the big-endian uint64 at their start. It is
// written from one goroutine (each library's apply goroutine) and read from
// others, hence the atomics.
type counter struct {
	count atomic.Uint64
	sum   atomic.Uint64
}

func (c *counter) add(command []byte) uint64 {
	if len(command) >= 8 {
		c.sum.Add(binary.BigEndian.Uint64(command))
	}
	return c.count.Add(1)
}

func (c *counter) snapshot() []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, c.count.Load()), c.sum.Load())
}

func (c *counter) restore(image []byte) {
	if len(image) >= 16 {
		c.count.Store(binary.BigEndian.Uint64(image))
		c.sum.Store(binary.BigEndian.Uint64(image[8:]))
	}
}
