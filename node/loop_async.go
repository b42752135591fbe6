package node

import "fmt"

// takeReadies handles every Ready with AsyncPersistence: the core holds
// back what must follow a write, so both message lists leave at once; the
// write goes to the writer goroutine and the loop moves on. Committed
// entries are already durable (the core delivers only those). A snapshot
// from the leader replaces the log: the loop waits for earlier writes, then
// installs it before queueing the Ready's write.
func (n *Node) takeReadies() error {
	for n.core.HasReady() {
		ready := n.core.Ready()
		n.roundTrips.leaving(ready.SendNow)
		n.transport.Send(ready.SendNow)
		n.transport.Send(ready.SendAfterPersist)
		if !ready.Snapshot.IsEmpty() {
			if err := n.writer.drain(n.stopping); err != nil {
				return fmt.Errorf("node %v: %w", n.config.ID, err)
			}
			if err := n.persistSnapshot(ready.Snapshot); err != nil {
				return err
			}
		}
		if ready.PersistSequence != 0 {
			n.writer.enqueue(logWrite{sequence: ready.PersistSequence, hardState: ready.HardState, entries: ready.Entries})
			if len(ready.Entries) > 0 {
				n.stages.queuedWrite(ready.PersistSequence, ready.Entries[len(ready.Entries)-1].Index)
			}
		}
		if err := n.finishReady(ready); err != nil {
			return err
		}
	}
	return nil
}

// writerNotify is the channel on which the writer reports progress, or nil
// (never ready) without AsyncPersistence.
func (n *Node) writerNotify() <-chan struct{} {
	if n.writer == nil {
		return nil
	}
	return n.writer.notify
}

// reportPersisted tells the core how far the writer got; a failed write is
// fatal, as in the synchronous loop.
func (n *Node) reportPersisted() error {
	durable, err := n.writer.progress()
	if err != nil {
		return fmt.Errorf("node %v: %w", n.config.ID, err)
	}
	n.stages.durable(durable)
	n.core.Persisted(durable)
	return nil
}
