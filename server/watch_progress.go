package server

import (
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/lockstepdb/lockstep/kv"
)

// A stream-wide progress request (WatchProgressRequest) is answered by one
// response with watch_id -1, which clientv3 hands to every watcher of the
// stream: each moves its resume point to the revision after the
// response's. So the revision must be one that every watcher of the
// stream has delivered all its events up to, and that is not below any
// watcher's start revision (etcd's rule since issue 20221: a watch that
// starts in the future gets no progress until the store gets there).
//
// Each watcher has its own queue (forwarded in order by sendLoop), so the
// answer is collected from markers: at one instant, when every watcher can
// take one, kv queues a marker at the current revision behind each
// watcher's responses; when every marker has been forwarded, nothing at or
// below the revision remains to be sent and the response goes out.

// progressRound is the stream-wide progress request being answered.
type progressRound struct {
	// revision is the revision of the queued markers; 0 while they are
	// not queued yet (a watcher is catching up or starts in the future).
	revision int64
	// pending holds the watchers whose marker has yet to be forwarded.
	pending map[int64]bool
}

// Polling bounds for a round whose markers cannot be queued yet.
const (
	progressRetryFirst = 5 * time.Millisecond
	progressRetryMost  = 100 * time.Millisecond
)

// requestProgress answers a WatchProgressRequest. Called by the receiving
// goroutine.
func (ws *watchStream) requestProgress() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.progress != nil || ws.closed {
		return // one is already on its way; it answers both
	}
	if len(ws.watchers) == 0 {
		revision, _ := ws.server.store.Revision()
		ws.send(&pb.WatchResponse{Header: ws.server.header(revision), WatchId: -1})
		return
	}
	ws.startProgressRound()
}

// startProgressRound opens a new round and starts queueing its markers.
// Called with ws.mu held, never after closeAll began.
func (ws *watchStream) startProgressRound() {
	round := &progressRound{}
	ws.progress = round
	ws.group.Go(func() { ws.queueProgressMarkers(round) })
}

// restartProgressRound is called, with ws.mu held, when a watcher with a
// start revision joins the stream: a round whose markers are already
// queued could announce a revision the new watcher has not delivered up
// to, or one below its start, so the round starts over with it included.
// A watcher from now (start 0) delivers nothing at or below the current
// revision, so it never invalidates a round.
func (ws *watchStream) restartProgressRound() {
	if ws.progress != nil && ws.progress.revision != 0 {
		ws.startProgressRound()
	}
}

// queueProgressMarkers queues the round's markers on every watcher of the
// stream at once, asking again with a growing pause while some watcher
// cannot take one yet, until the stream ends or the round is replaced.
func (ws *watchStream) queueProgressMarkers(round *progressRound) {
	pause := progressRetryFirst
	for {
		ws.mu.Lock()
		if ws.progress != round {
			ws.mu.Unlock()
			return
		}
		watchers := make([]*kv.Watcher, 0, len(ws.watchers))
		pending := make(map[int64]bool, len(ws.watchers))
		for id, entry := range ws.watchers {
			watchers = append(watchers, entry.watcher)
			pending[id] = true
		}
		if revision, queued := ws.server.store.RequestProgress(watchers...); queued {
			round.revision, round.pending = revision, pending
			ws.finishProgressRound()
			ws.mu.Unlock()
			return
		}
		ws.mu.Unlock()
		select {
		case <-ws.ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, progressRetryMost)
	}
}

// progressReported records a watcher's progress marker. It reports
// whether the marker belonged to the stream-wide round (and so is not
// sent as the watcher's own progress notification). Called by the
// stream's sendLoop.
func (ws *watchStream) progressReported(id int64, revision int64) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	round := ws.progress
	if round == nil || round.revision == 0 || revision != round.revision || !round.pending[id] {
		return false
	}
	delete(round.pending, id)
	ws.finishProgressRound()
	return true
}

// progressSettled removes a watcher that ended from the round. Called
// with ws.mu held.
func (ws *watchStream) progressSettled(id int64) {
	round := ws.progress
	if round == nil || round.revision == 0 || !round.pending[id] {
		return
	}
	delete(round.pending, id)
	ws.finishProgressRound()
}

// finishProgressRound sends the round's response once its markers are
// queued and every one was forwarded. Called with ws.mu held.
func (ws *watchStream) finishProgressRound() {
	round := ws.progress
	if round.revision == 0 || len(round.pending) > 0 {
		return
	}
	ws.progress = nil
	ws.send(&pb.WatchResponse{Header: ws.server.header(round.revision), WatchId: -1})
}
