package stack

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/lockstepdb/lockstep/node"
	"github.com/lockstepdb/lockstep/raft"
)

// keys are the registers the clients write and read: few, so that reads
// and writes of one key overlap often.
var keys = []string{"a", "b", "c", "d"}

// clientTicks bounds each client request.
const clientTicks = 3 * electionTicks

// client proposes puts and reads registers until ctx ends, recording every
// outcome. It follows NotLeaderError's hints to find the leader, and reads
// on any node (a follower most of the time).
type client struct {
	cluster *cluster
	number  int
	random  *rand.Rand
	// guess is the node this client believes leads (0: unknown).
	guess    raft.NodeID
	sequence int
}

func (cl *client) run(ctx context.Context) {
	for ctx.Err() == nil {
		if cl.random.IntN(3) == 0 {
			cl.read(ctx)
		} else {
			cl.put(ctx)
		}
		sleepTicks(ctx, cl.cluster, cl.random.IntN(3))
	}
}

// target returns the node to propose on: the guessed leader if it is up,
// else a random running node.
func (cl *client) target() (running, bool) {
	up := cl.cluster.up()
	if len(up) == 0 {
		return running{}, false
	}
	for _, r := range up {
		if r.id == cl.guess {
			return r, true
		}
	}
	return up[cl.random.IntN(len(up))], true
}

func (cl *client) put(ctx context.Context) {
	c := cl.cluster
	target, ok := cl.target()
	if !ok {
		sleepTicks(ctx, c, 1)
		return
	}
	cl.sequence++
	key := keys[cl.random.IntN(len(keys))]
	err := c.put(ctx, target, key, fmt.Sprintf("%d.%d", cl.number, cl.sequence))
	c.recorder.tracef("client %d: put %s=%d.%d on node %d: %v", cl.number, key, cl.number, cl.sequence, target.id, errorText(err))
	var notLeader *node.NotLeaderError
	switch {
	case err == nil:
		cl.guess = target.id
	case errors.As(err, &notLeader):
		cl.guess = notLeader.Leader
		sleepTicks(ctx, c, 1)
	case errors.Is(err, node.ErrDropped):
		sleepTicks(ctx, c, 1)
	default:
		cl.guess = 0
	}
}

// put proposes key=value on target, within clientTicks, and records the
// outcome: acknowledged at an index, refused (certainly not applied), or
// unknown (maybe committed, or the node stopped meanwhile: the history
// allows both). It returns Propose's error.
func (c *cluster) put(ctx context.Context, target running, key, value string) error {
	command := key + "=" + value
	c.recorder.propose(command, key, value)
	requestContext, cancel := context.WithTimeout(ctx, c.ticks(clientTicks))
	result, err := target.node.Propose(requestContext, []byte(command))
	cancel()
	var notLeader *node.NotLeaderError
	switch {
	case err == nil:
		index, ok := result.(uint64)
		if !ok {
			c.recorder.violate("validity", "Propose of %q returned %v, not the index the state machine returned", command, result)
			return nil
		}
		c.recorder.acknowledge(command, index)
	case errors.As(err, &notLeader), errors.Is(err, node.ErrDropped):
		c.recorder.refuse(command)
	}
	return err
}

// read is a linearizable read of one register on a random running node.
func (cl *client) read(ctx context.Context) {
	c := cl.cluster
	up := c.up()
	if len(up) == 0 {
		sleepTicks(ctx, c, 1)
		return
	}
	target := up[cl.random.IntN(len(up))]
	key := keys[cl.random.IntN(len(keys))]
	call := c.recorder.now()
	requestContext, cancel := context.WithTimeout(ctx, c.ticks(clientTicks))
	err := target.node.Read(requestContext)
	cancel()
	if err != nil {
		return // no answer: left out of the history
	}
	value := target.machine.value(key)
	c.recorder.onRead(key, value, call)
	c.recorder.tracef("client %d: read %s on node %d = %q (applied %d, call %d)", cl.number, key, target.id, value, target.machine.lastIndex(), call)
}
