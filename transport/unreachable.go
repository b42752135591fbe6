package transport

import "github.com/lockstepdb/lockstep/raft"

// OnUnreachable sets the function called, from the transport's goroutines,
// each time a peer's message stream breaks or cannot be opened: what was
// in flight on it is lost, and a leader should stop pipelining appends to
// that peer (raft.Core.ReportUnreachable). report must not block. The node
// runtime calls it once, before Start; nil turns the reports off.
func (t *Transport) OnUnreachable(report func(raft.NodeID)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unreachable = report
}

// reportUnreachable calls the OnUnreachable function, if any, for id.
func (t *Transport) reportUnreachable(id raft.NodeID) {
	t.mu.RLock()
	report := t.unreachable
	t.mu.RUnlock()
	if report != nil {
		report(id)
	}
}
