package node

import "github.com/lockstepdb/lockstep/machine"

// The state-machine contract lives in package machine, a leaf that a state
// machine can import without the runtime; these aliases keep it reachable
// as node.Entry, node.StateMachine and so on, so embedders need not change.

// Entry is a committed command handed to the state machine (machine.Entry).
type Entry = machine.Entry

// Result is what the state machine returns for one command; Propose hands
// it to the caller that proposed the command on this node (machine.Result).
type Result = machine.Result

// StateMachine is the application's replicated state; see
// machine.StateMachine for its threading contract.
type StateMachine = machine.StateMachine

// DurableStateMachine is a StateMachine that keeps its state on disk,
// atomically with the index of the last entry it applied; see
// machine.DurableStateMachine for what Start does with it.
type DurableStateMachine = machine.DurableStateMachine
