package server

import (
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/lockstepdb/lockstep/kv"
)

// drainBatch bounds the responses taken from one watcher in one pass, so
// that a watcher catching up a long history does not hold back the
// stream's others.
const drainBatch = 64

// sendLoop forwards the responses of every watcher of the stream to the
// client, each watcher's in order, until the stream ends; and every
// progress interval asks for a notification for each watch created with
// progress_notify that sent no events meanwhile (as etcd does). One
// goroutine per stream, woken by ws.ready, rather than one per watcher:
// with ten thousand watchers on a prefix, waking a goroutine per watcher
// per event cost more than the events.
func (ws *watchStream) sendLoop() {
	ticker := time.NewTicker(ws.server.config.WatchProgressNotifyInterval)
	defer ticker.Stop()
	var entries []*streamWatcher
	for {
		select {
		case <-ws.ctx.Done():
			return
		case <-ticker.C:
			entries = ws.listWatchers(entries)
			for _, entry := range entries {
				if entry.notify && !entry.sentEvents {
					ws.server.store.RequestProgress(entry.watcher)
				}
				entry.sentEvents = false
			}
		case <-ws.ready:
			entries = ws.listWatchers(entries)
			for _, entry := range entries {
				if !ws.drain(entry) {
					return
				}
			}
		}
	}
}

// listWatchers returns the stream's watchers, reusing list's storage.
func (ws *watchStream) listWatchers(list []*streamWatcher) []*streamWatcher {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	list = list[:0]
	for _, entry := range ws.watchers {
		list = append(list, entry)
	}
	return list
}

// drain forwards what is queued on one watcher, at most drainBatch
// responses (and signals ws.ready again if more remain). It reports false
// when the stream can no longer send.
func (ws *watchStream) drain(entry *streamWatcher) bool {
	responses := entry.watcher.Responses()
	for range drainBatch {
		select {
		case response, ok := <-responses:
			if !ok {
				ws.watcherEnded(entry.id)
				return true
			}
			if entry.gone.Load() {
				continue // canceled: what is still queued is not sent
			}
			if !ws.forward(entry, response) {
				return false
			}
		default:
			return true
		}
	}
	select {
	case ws.ready <- struct{}{}:
	default:
	}
	return true
}

// forward sends one response of a watcher to the client; false if the
// stream failed.
func (ws *watchStream) forward(entry *streamWatcher, response kv.WatchResponse) bool {
	if len(response.Events) == 0 && !response.Canceled { // a progress marker
		if ws.progressReported(entry.id, response.Revision) || !entry.notify {
			return true
		}
	}
	entry.sentEvents = entry.sentEvents || len(response.Events) > 0
	out := &pb.WatchResponse{Header: ws.server.header(response.Revision), WatchId: entry.id, Events: response.Events,
		CompactRevision: response.CompactRevision, Canceled: response.Canceled}
	if response.Canceled && response.CompactRevision > 0 {
		out.CancelReason = rpctypes.ErrGRPCCompacted.Error()
	}
	if err := ws.send(out); err != nil {
		ws.cancel()
		return false
	}
	if response.Canceled {
		ws.forget(entry.id)
	}
	return true
}
