// Package stack runs whole-stack simulations: clusters of real node.Node
// runtimes (the loop, the WAL, the snapshot store and the raft core, exactly
// as an application embeds them) over an in-memory network that drops,
// duplicates, delays and partitions messages, each node on its own
// in-memory disk (vfs.MemFS) that can crash, losing or tearing what was not
// synced, or fail an fsync. A seeded schedule drives clients that propose
// commands and read on any node, crashes and restarts, partitions,
// leadership transfers, membership changes (a voter removed, a new node
// added as a learner, caught up — by snapshot when the log was compacted —
// and promoted) and frequent snapshots. On half the seeds the nodes' state
// machines are durable (node.DurableStateMachine, as kv's store is): each
// keeps its state on its member's disk, made durable at each snapshot or
// restore, and a restarted node starts from what its disk kept and replays
// only the rest of its log.
//
// What is checked: every node applies the same command at each index
// (checked on every Apply, on every snapshot restored, and on every state
// a durable machine loads from its disk); a command refused as not
// proposed or dropped is never applied; every acknowledged command is, at
// the end, applied at the index its Propose returned on every member; all
// nodes' applied sequences are prefixes of one another;
// the clients' history of puts and reads is linearizable (porcupine, a
// register per key); and once every fault heals the cluster commits a new
// command within a bounded time.
//
// Time. The runtime reads the real clock (time.Ticker, timers, contexts),
// so the simulation uses it too, scaled by Options.TickInterval. Inside a
// testing/synctest bubble that clock is virtual: a run takes only the CPU
// it needs, waits are exact, and nothing depends on how loaded the machine
// is. Outside a bubble (the lockstep sim --stack command) the same schedule
// runs in real time with short ticks. Everything a run creates — nodes,
// network, disks, goroutines, channels — is created inside Run, and nothing
// touches a real socket or file, so a bubble never waits on the outside.
//
// Determinism. The seed fixes the schedule (which fault, when, where, in
// ticks), every random choice of the network, the disks and the clients,
// and each node's election randomness. It does not fix how the Go
// scheduler interleaves the nodes' goroutines, so two runs of one seed are
// alike but not identical; a failure is reported with its seed and the
// trace of the run.
package stack
