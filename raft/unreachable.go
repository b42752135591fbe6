package raft

// ReportUnreachable tells the core that the runtime could not deliver
// messages to node id: its stream broke, a dial failed, a send queue
// overflowed. On a leader, the appends in flight to that node are presumed
// lost: if it was replicating in pipeline, the leader drops back to probing
// it, one append at a time from its last acknowledged index, the next one
// only once the node answers (a heartbeat response counts). Without it a
// leader keeps up to Config.MaxInflightAppends appends in flight to a node
// that is gone, and its runtime queues them all. On any other role, for
// this node itself, or for a node that is not a member, it does nothing.
// Like every method, call it with access serialised with the others and
// not between Ready and Advance.
func (c *Core) ReportUnreachable(id NodeID) {
	c.checkNoReadyOutstanding("ReportUnreachable")
	if c.role != RoleLeader || id == c.id {
		return
	}
	if follower := c.progress[id]; follower != nil && follower.state == stateReplicate {
		follower.becomeProbe()
	}
}
