// Package node is lockstep's runtime: it owns the goroutines, the disk and
// the network around the pure consensus core (package raft), and offers the
// embedding API.
//
//	n, err := node.Start(config, stateMachine) // restores from the snapshot and the WAL
//	result, err := n.Propose(ctx, command)     // returns once applied locally
//	err = n.Read(ctx)                          // linearizable read barrier, on any node
//	n.Stop()
//
// One goroutine (the loop) drives the core: it feeds it ticks, messages from
// peers and requests from callers, and handles each Ready in the order the
// core's persistence contract demands — send what may leave at once (a
// leader's appends, so followers write in parallel with the leader), make the
// new entries and hard state durable in the WAL, send the rest, apply
// committed entries to the state machine, advance.
package node
