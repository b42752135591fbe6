package transport

import "github.com/lockstepdb/lockstep/snap"

// UseSnapshotStore makes the transport stream snapshots through store's
// files instead of memory, so that neither end ever holds a whole
// snapshot: a snapshot message whose Snapshot.Data is nil is sent from the
// file store.OpenData opens (the runtime's storage hands the core
// snapshots without their data), and a snapshot received is written
// through store.Receive, verified, made durable, and handed to the
// handler with Data nil, staged for store.Install. A message that carries
// its data is still sent from memory.
//
// The node runtime calls it, before Start, with the store it keeps its
// snapshots in; a Transport used without one keeps snapshots in memory.
func (t *Transport) UseSnapshotStore(store *snap.Store) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.snapshots = store
}

func (t *Transport) snapshotStore() *snap.Store {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.snapshots
}
